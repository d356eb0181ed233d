package linq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
)

// Caps on how much of an answer is read.
const (
	maxListBody  = 64 << 20 // a list of many thousand subscriptions
	maxItemBody  = 1 << 20  // one subscription, or the event types
	maxErrorBody = 64 << 10 // an error answer; only its envelope matters
)

// decodeList decodes the answer to a list call: {"subscriptions": [...]}.
// Every item must be a well-formed subscription; ids must be unique.
//
// A well-formed answer is decoded in one pass (decodeListFast); anything
// out of the ordinary goes through decodeListSlow, which checks the body
// piece by piece and says exactly what is wrong. Both accept the same
// answers with the same result.
func decodeList(body []byte) ([]Subscription, error) {
	if subs, ok := decodeListFast(body); ok {
		return subs, nil
	}
	return decodeListSlow(body)
}

// decodeListFast decodes a well-formed list answer with one scan and one
// decode of the body, instead of one per layer and per item, which made
// listing 10,000 subscriptions several times slower. It reports false for
// anything decodeListSlow would refuse or treat specially: an error
// envelope, a missing or null list, a key that repeats or differs from the
// expected one only in case, an item decodeItem would reject, a repeated
// id, or data after the object. decodeList then takes the slow path.
func decodeListFast(body []byte) ([]Subscription, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var items []wireSubscription
	seen := make(map[string]bool, 3)
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey || seen[key] {
			return nil, false
		}
		seen[key] = true
		switch {
		case key == "subscriptions":
			if dec.Decode(&items) != nil || items == nil {
				return nil, false
			}
		case key == "success", key == "error":
			var v json.RawMessage
			if dec.Decode(&v) != nil || !(string(v) == "null" || key == "success" && string(v) == "true") {
				return nil, false
			}
		case strings.EqualFold(key, "subscriptions"), strings.EqualFold(key, "success"), strings.EqualFold(key, "error"):
			// encoding/json matches keys without regard to case; leave
			// such answers to the slow path rather than mimic it.
			return nil, false
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil, false
			}
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	if !seen["subscriptions"] {
		return nil, false
	}
	subs := make([]Subscription, len(items))
	ids := make(map[string]struct{}, len(items))
	for i := range items {
		s, err := fromWire(&items[i])
		if err != nil {
			return nil, false
		}
		if _, dup := ids[s.ID]; dup {
			return nil, false
		}
		ids[s.ID] = struct{}{}
		subs[i] = s
	}
	return subs, true
}

// decodeListSlow decodes a list answer layer by layer and item by item,
// naming what is wrong.
func decodeListSlow(body []byte) ([]Subscription, error) {
	var w struct {
		Subscriptions json.RawMessage `json:"subscriptions"`
	}
	if err := decodeObject(body, &w); err != nil {
		return nil, err
	}
	raw := bytes.TrimSpace(w.Subscriptions)
	switch {
	case len(raw) == 0:
		return nil, errors.New(`no "subscriptions" field`)
	case bytes.Equal(raw, []byte("null")):
		return []Subscription{}, nil
	case raw[0] != '[':
		return nil, fmt.Errorf(`"subscriptions" is %s, not an array`, jsonKind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("subscriptions: %w", jsonDetail(err))
	}
	subs := make([]Subscription, 0, len(items))
	seen := make(map[string]int, len(items))
	for i, item := range items {
		s, err := decodeItem(item)
		if err != nil {
			return nil, fmt.Errorf("subscriptions[%d]: %w", i, err)
		}
		if j, dup := seen[s.ID]; dup {
			return nil, fmt.Errorf("subscriptions[%d]: id %q repeats subscriptions[%d]", i, s.ID, j)
		}
		seen[s.ID] = i
		subs = append(subs, s)
	}
	return subs, nil
}

// decodeSubscription decodes the answer to a retrieve or update call.
func decodeSubscription(body []byte) (Subscription, error) {
	if err := decodeObject(body, &struct{}{}); err != nil {
		return Subscription{}, err
	}
	return decodeItem(body)
}

// decodeCreated decodes the answer to a create call, which must carry the
// signing secret. Error texts never quote the body, which holds the secret.
func decodeCreated(body []byte) (CreatedSubscription, error) {
	if err := decodeObject(body, &struct{}{}); err != nil {
		return CreatedSubscription{}, err
	}
	s, err := decodeItem(body)
	if err != nil {
		return CreatedSubscription{}, err
	}
	var w struct {
		SigningSecret *string `json:"signing_secret"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return CreatedSubscription{}, fmt.Errorf("signing_secret: %w", jsonDetail(err))
	}
	if w.SigningSecret == nil || *w.SigningSecret == "" {
		return CreatedSubscription{}, errors.New("no signing_secret")
	}
	return CreatedSubscription{Subscription: s, SigningSecret: NewSecret(*w.SigningSecret)}, nil
}

// decodeEventTypes decodes {"events": [string, ...], "doc_url": ...}.
func decodeEventTypes(body []byte) ([]string, error) {
	var w struct {
		Events *[]*string `json:"events"`
	}
	if err := decodeObject(body, &w); err != nil {
		return nil, err
	}
	if w.Events == nil {
		return nil, errors.New(`no "events" array`)
	}
	events := make([]string, 0, len(*w.Events))
	for i, e := range *w.Events {
		if e == nil || *e == "" {
			return nil, fmt.Errorf("events[%d]: empty event type", i)
		}
		events = append(events, *e)
	}
	return events, nil
}

// wireSubscription is a subscription as decoded from the wire. Pointers
// tell an absent or null field from a zero one.
type wireSubscription struct {
	ID               *string         `json:"id"`
	TargetURL        *string         `json:"target_url"`
	SubscribedEvents *[]string       `json:"subscribed_events"`
	IsActive         *bool           `json:"is_active"`
	PhoneNumbers     []string        `json:"phone_numbers"`
	EnvironmentID    *string         `json:"environment_id"`
	CreatedAt        json.RawMessage `json:"created_at"`
	UpdatedAt        json.RawMessage `json:"updated_at"`
}

// decodeItem decodes one subscription object. The fields a plan depends on
// (id, target_url, subscribed_events, is_active) must be present, so that a
// damaged answer can never look like drift and lead to writes; the rest are
// optional and unknown fields are ignored.
func decodeItem(raw []byte) (Subscription, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Subscription{}, notObject("subscription", raw)
	}
	var w wireSubscription
	if err := json.Unmarshal(raw, &w); err != nil {
		return Subscription{}, jsonDetail(err)
	}
	return fromWire(&w)
}

// fromWire checks a decoded subscription object and converts it.
func fromWire(w *wireSubscription) (Subscription, error) {
	switch {
	case w.ID == nil || *w.ID == "":
		return Subscription{}, errors.New("no id")
	case CheckID(*w.ID) != nil:
		return Subscription{}, CheckID(*w.ID)
	case w.TargetURL == nil || *w.TargetURL == "":
		return Subscription{}, fmt.Errorf("subscription %q: no target_url", *w.ID)
	case w.SubscribedEvents == nil:
		return Subscription{}, fmt.Errorf("subscription %q: no subscribed_events", *w.ID)
	case w.IsActive == nil:
		return Subscription{}, fmt.Errorf("subscription %q: no is_active", *w.ID)
	}
	created, err := parseTime(w.CreatedAt)
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %q: created_at: %w", *w.ID, err)
	}
	updated, err := parseTime(w.UpdatedAt)
	if err != nil {
		return Subscription{}, fmt.Errorf("subscription %q: updated_at: %w", *w.ID, err)
	}
	return Subscription{
		ID:               *w.ID,
		TargetURL:        *w.TargetURL,
		SubscribedEvents: *w.SubscribedEvents,
		IsActive:         *w.IsActive,
		PhoneNumbers:     w.PhoneNumbers,
		EnvironmentID:    w.EnvironmentID,
		CreatedAt:        created,
		UpdatedAt:        updated,
	}, nil
}

// timeLayouts are the timestamp forms accepted: RFC 3339 with or without
// fractional seconds, without a zone (UTC assumed), or with a space.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"}

// parseTime decodes a timestamp leniently: absent, null or "" is the zero
// time.
func parseTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	s, ok := plainString(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("%s where a timestamp string was expected", jsonKind(raw))
		}
	}
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			return v, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", truncate(sanitize(s), 40))
}

// plainString returns the content of a JSON string literal that needs no
// unescaping (printable ASCII without backslashes), as json.Unmarshal
// would; ok is false for anything else.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(in), true
}

// decodeObject checks that body is one JSON object that is not an error
// envelope, and decodes it into v.
func decodeObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("empty body")
	}
	if trimmed[0] != '{' {
		return notObject("body", trimmed)
	}
	var env struct {
		Success *bool           `json:"success"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return jsonDetail(err)
	}
	if (env.Success != nil && !*env.Success) || (len(env.Error) > 0 && string(env.Error) != "null") {
		e := parseEnvelope(trimmed)
		msg := "success is false"
		if e.message != "" {
			msg = e.message
		}
		if e.status != 0 || e.code != 0 {
			return fmt.Errorf("answer is an error envelope (status %d, code %d): %s", e.status, e.code, msg)
		}
		return fmt.Errorf("answer is an error envelope: %s", msg)
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return jsonDetail(err)
	}
	return nil
}

// isJSONMediaType reports whether ct is absent or a JSON media type.
func isJSONMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// notObject says that what (the body, an item) is not a JSON object.
func notObject(what string, raw []byte) error {
	kind := jsonKind(raw)
	if kind == "not JSON" {
		return fmt.Errorf("%s is not JSON", what)
	}
	return fmt.Errorf("%s is %s, not an object", what, kind)
}

// jsonKind names the kind of JSON value raw starts with, for messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "not JSON"
}

// jsonDetail rewrites a decoding error as a short message that quotes no
// part of the body, which for a create holds the signing secret.
func jsonDetail(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		if strings.Contains(syntax.Error(), "unexpected end") {
			return errors.New("truncated JSON")
		}
		return fmt.Errorf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field != "" {
			return fmt.Errorf("field %q: %s where %s was expected", typ.Field, got, goTypeName(typ.Type.String()))
		}
		return fmt.Errorf("%s where %s was expected", got, goTypeName(typ.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	return err
}

// goTypeName turns a Go type into the JSON kind a reader expects.
func goTypeName(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "struct"), strings.Contains(t, "."):
		return "an object"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "float"), strings.HasPrefix(t, "uint"):
		return "a number"
	}
	return t
}
