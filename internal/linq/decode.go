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

// maxListItems caps the subscriptions of one list answer. An account
// holds a few thousand at most (a file may declare 10,000); the cap bounds
// the memory a hostile or broken answer can take while it is decoded.
const maxListItems = 50_000

// maxListStep bounds what one step of the list decoder (one key, one
// item, one other value) may read from the body, so that an endless string
// or value cannot fill memory before the body cap is reached. One item is
// at most maxItemBody; the decoder reads a little ahead, hence the double.
const maxListStep = 2 * maxItemBody

// errStepTooLarge is what stepReader returns once a step has read its
// allowance; the decoder passes it through.
var errStepTooLarge = errors.New("value too large")

// stepReader hands the list decoder at most left bytes before the next
// step() call.
type stepReader struct {
	r    io.Reader
	left int64
}

func (s *stepReader) step() { s.left = maxListStep }

func (s *stepReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, errStepTooLarge
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	return n, err
}

// decodeList decodes the answer to a list call held in memory: with
// fastList when the answer has the plain shape it reads, else with
// decodeListFrom. The result is the same either way.
func decodeList(body []byte) ([]Subscription, error) {
	if subs, ok := fastList(body); ok {
		return subs, nil
	}
	return decodeListFrom(bytes.NewReader(body))
}

// maxWholeList is the largest list answer read whole before it is decoded,
// which lets decodeList take its fast path: 16 MiB holds a list of
// maxListItems subscriptions as the API writes them. Only an answer that
// declares its length is read whole, so that memory stays bounded by that
// length; any other is decoded as it is read.
const maxWholeList = 16 << 20

// decodeListAnswer decodes the answer to a list call from r, whose length is
// size (-1 when unknown). An answer that declares a length of at most
// maxWholeList is read into one buffer of that size and decoded with
// decodeList; any other with decodeListFrom as it arrives.
func decodeListAnswer(r io.Reader, size int64) ([]Subscription, error) {
	if size < 0 || size > maxWholeList {
		return decodeListFrom(r)
	}
	body := make([]byte, size)
	n, err := io.ReadFull(r, body)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// Shorter than declared. An HTTP body reports that as an error of
		// its own, which the caller sees; decode what there is.
		return decodeList(body[:n])
	case err != nil:
		return nil, err
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		// Longer than declared (an HTTP body never is): decode it all as
		// it arrives.
		return decodeListFrom(io.MultiReader(bytes.NewReader(body), bytes.NewReader(one[:]), r))
	}
	return decodeList(body)
}

// decodeListFrom decodes the answer to a list call, {"subscriptions":
// [...]}, as it is read: one item at a time, each at most maxListStep
// bytes, at most maxListItems of them, so that memory stays bounded by
// the result however long or hostile the body. On any error nothing of
// the answer is returned.
//
// Only a complete list is accepted, since a plan made from part of the
// account would create what exists and delete what it did not see: every
// item must be a well-formed subscription with a unique, path-safe id; the
// list must be an array (null is refused); no top-level key may repeat (in
// any letter case); and no pagination marker may be present with a value
// (has_more: true, next, cursor, next_page, a page token...), because this
// client does not follow pages and the answer would then be one page of
// several. Unknown keys are otherwise ignored.
func decodeListFrom(r io.Reader) ([]Subscription, error) {
	sr := &stepReader{r: r}
	sr.step()
	dec := json.NewDecoder(sr)
	t, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil, errors.New("empty body")
	case err != nil:
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && syntax.Offset <= 1 {
			return nil, errors.New("body is not JSON")
		}
		return nil, listErr("body", err)
	case t != json.Delim('{'):
		return nil, fmt.Errorf("body is %s, not an object", tokenKind(t))
	}
	var (
		subs     []Subscription
		listSeen bool
		success  json.RawMessage
		envErr   json.RawMessage
		message  json.RawMessage
		keys     = map[string]string{}
	)
	for dec.More() {
		sr.step()
		t, err := dec.Token()
		if err != nil {
			return nil, listErr("body", err)
		}
		key, _ := t.(string)
		fold := strings.ToLower(key)
		if prev, dup := keys[fold]; dup {
			// encoding/json would keep the last; either copy may be the
			// complete one.
			return nil, fmt.Errorf("key %q appears twice (also as %q); the answer is ambiguous", truncate(sanitize(key), 40), truncate(sanitize(prev), 40))
		}
		keys[fold] = key
		if fold == "subscriptions" {
			listSeen = true
			if subs, err = decodeItems(dec, sr); err != nil {
				return nil, err
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, listErr(fmt.Sprintf("%q", truncate(sanitize(key), 40)), err)
		}
		switch fold {
		case "success":
			success = raw
		case "error":
			envErr = raw
		case "message":
			message = raw
		}
		if err := checkPagination(key, raw); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, listErr("body", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return nil, fmt.Errorf("invalid JSON at byte %d: data after the object", dec.InputOffset())
		}
		return nil, listErr("body", err)
	}
	if err := envelopeError(success, envErr, message); err != nil {
		return nil, err
	}
	if !listSeen {
		return nil, errors.New(`no "subscriptions" field`)
	}
	return subs, nil
}

// decodeItems decodes the value of "subscriptions", which must be an array
// of well-formed subscriptions with unique ids.
func decodeItems(dec *json.Decoder, sr *stepReader) ([]Subscription, error) {
	t, err := dec.Token()
	switch {
	case err != nil:
		return nil, listErr("subscriptions", err)
	case t == nil:
		return nil, errors.New(`"subscriptions" is null, not an array; a complete list is an array, even when empty`)
	case t != json.Delim('['):
		if d, ok := t.(json.Delim); ok && d == '{' {
			return nil, errors.New(`"subscriptions" is an object, not an array`)
		}
		return nil, fmt.Errorf(`"subscriptions" is %s, not an array`, tokenKind(t))
	}
	subs := []Subscription{}
	seen := map[string]int{}
	for i := 0; dec.More(); i++ {
		if i == maxListItems {
			return nil, fmt.Errorf("more than %d subscriptions in one answer", maxListItems)
		}
		sr.step()
		// Decoded in place, without a copy of the item's bytes.
		var w *wireSubscription
		if err := dec.Decode(&w); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field == "" {
				return nil, fmt.Errorf("subscriptions[%d]: subscription is %s, not an object", i, valueKind(typ.Value))
			}
			return nil, listErr(fmt.Sprintf("subscriptions[%d]", i), err)
		}
		if w == nil {
			return nil, fmt.Errorf("subscriptions[%d]: subscription is null, not an object", i)
		}
		s, err := fromWire(w)
		if err != nil {
			return nil, fmt.Errorf("subscriptions[%d]: %w", i, err)
		}
		if j, dup := seen[s.ID]; dup {
			return nil, fmt.Errorf("subscriptions[%d]: id %q repeats subscriptions[%d]", i, s.ID, j)
		}
		seen[s.ID] = i
		subs = append(subs, s)
	}
	sr.step()
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, listErr("subscriptions", err)
	}
	return subs, nil
}

// listErr names where a list answer could not be read.
func listErr(where string, err error) error {
	if errors.Is(err, errStepTooLarge) {
		return fmt.Errorf("%s: a single value larger than %d bytes", where, maxListStep)
	}
	if where == "body" {
		return jsonDetail(err)
	}
	return fmt.Errorf("%s: %w", where, jsonDetail(err))
}

// envelopeError reports a success answer that is an error envelope:
// success false, or an error that is not null.
func envelopeError(success, envErr, message json.RawMessage) error {
	if len(success) > 0 {
		var ok *bool
		if err := json.Unmarshal(success, &ok); err != nil {
			return fmt.Errorf(`field "success": %w`, jsonDetail(err))
		}
		if ok != nil && *ok {
			success = nil
		}
	}
	if len(envErr) > 0 && string(bytes.TrimSpace(envErr)) == "null" {
		envErr = nil
	}
	if len(success) == 0 && len(envErr) == 0 {
		return nil
	}
	var env bytes.Buffer
	env.WriteString("{")
	if len(envErr) > 0 {
		env.WriteString(`"error":`)
		env.Write(envErr)
	}
	if len(message) > 0 {
		if len(envErr) > 0 {
			env.WriteString(",")
		}
		env.WriteString(`"message":`)
		env.Write(message)
	}
	env.WriteString("}")
	e := parseEnvelope(env.Bytes())
	msg := "success is false"
	if e.message != "" {
		msg = e.message
	}
	if e.status != 0 || e.code != 0 {
		return fmt.Errorf("answer is an error envelope (status %d, code %d): %s", e.status, e.code, msg)
	}
	return fmt.Errorf("answer is an error envelope: %s", msg)
}

// paginationWords are the parts of a key name that mark a paged answer.
var paginationWords = []string{"next", "cursor", "page", "more", "continuation", "offset", "after", "token", "links", "paging", "pagination"}

// checkPagination refuses a top-level key that marks the answer as one page
// of several (has_more, next, next_cursor, cursor, next_page, page_token,
// links, pagination...) unless its value says there is nothing more (null,
// false, "", 0, [] or {}). An object under "meta" is checked the same way.
func checkPagination(key string, raw json.RawMessage) error {
	fold := strings.ToLower(key)
	if fold == "meta" {
		var meta map[string]json.RawMessage
		if json.Unmarshal(raw, &meta) == nil {
			for k, v := range meta {
				if err := checkPagination(k, v); err != nil {
					return fmt.Errorf("meta: %w", err)
				}
			}
		}
		return nil
	}
	marker := false
	for _, w := range paginationWords {
		if strings.Contains(fold, w) {
			marker = true
			break
		}
	}
	if !marker {
		return nil
	}
	switch string(bytes.TrimSpace(raw)) {
	case "null", "false", `""`, "0", "[]", "{}":
		return nil
	}
	return fmt.Errorf("answer has %q = %s: it looks like one page of several, and this client reads only complete lists (no pagination is published); refusing to plan from it",
		truncate(sanitize(key), 40), truncate(sanitize(string(bytes.TrimSpace(raw))), 40))
}

// valueKind names the kind of JSON value in an UnmarshalTypeError's Value.
func valueKind(v string) string {
	switch {
	case strings.HasPrefix(v, "string"):
		return "a string"
	case strings.HasPrefix(v, "number"):
		return "a number"
	case strings.HasPrefix(v, "bool"):
		return "a boolean"
	case strings.HasPrefix(v, "array"):
		return "an array"
	}
	return "not an object"
}

// tokenKind names the kind of a JSON token, for messages.
func tokenKind(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case float64, json.Number:
		return "a number"
	}
	return "not JSON"
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
	if w.ID == nil || *w.ID == "" {
		return Subscription{}, errors.New("no id")
	}
	if err := CheckID(*w.ID); err != nil {
		return Subscription{}, err
	}
	switch {
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
