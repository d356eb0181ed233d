package fakeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// fields is a decoded JSON object body, each value still raw so that its
// type can be checked and null told apart from absence.
type fields map[string]json.RawMessage

var (
	createFields = []string{"target_url", "subscribed_events", "phone_numbers", "is_active"}
	updateFields = []string{"target_url", "subscribed_events", "phone_numbers", "is_active"}
)

// decodeObject parses body as one JSON object.
func decodeObject(body []byte, known []string, rejectUnknown bool) (fields, *apiErr) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &apiErr{400, CodeMalformedJSON, "request body must be a JSON object"}
	}
	if !json.Valid(trimmed) {
		return nil, &apiErr{400, CodeMalformedJSON, "request body is not valid JSON"}
	}
	if trimmed[0] != '{' {
		return nil, &apiErr{400, CodeMalformedJSON, "request body must be a JSON object"}
	}
	var f fields
	if err := json.Unmarshal(trimmed, &f); err != nil {
		return nil, &apiErr{400, CodeMalformedJSON, "request body must be a JSON object"}
	}
	if rejectUnknown {
		var unknown []string
		for k := range f {
			if !slices.Contains(known, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return nil, badRequest(fmt.Sprintf("unknown field %q", unknown[0]))
		}
	}
	return f, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func firstByte(raw json.RawMessage) byte {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return 0
	}
	return t[0]
}

// stringValue decodes a JSON string field.
func stringValue(name string, raw json.RawMessage) (string, *apiErr) {
	var v string
	if firstByte(raw) != '"' || json.Unmarshal(raw, &v) != nil {
		return "", badRequest(name + " must be a string")
	}
	return v, nil
}

// stringArray decodes a JSON array of strings.
func stringArray(name string, raw json.RawMessage) ([]string, *apiErr) {
	if firstByte(raw) != '[' {
		return nil, badRequest(name + " must be an array of strings")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest(name + " must be an array of strings")
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		v, e := stringValue(fmt.Sprintf("%s[%d]", name, i), it)
		if e != nil {
			return nil, e
		}
		out = append(out, v)
	}
	return out, nil
}

func boolValue(name string, raw json.RawMessage) (bool, *apiErr) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest(name + " must be a boolean")
}

// dedupe drops repeated values, keeping the first occurrence's order.
func dedupe(in []string) []string {
	seen := make(map[string]struct{}, len(in))
	out := in[:0:0]
	for _, v := range in {
		if _, ok := seen[v]; ok {
			continue
		}
		seen[v] = struct{}{}
		out = append(out, v)
	}
	return out
}

// targetURL validates a target_url value: an absolute HTTPS URL with a
// host, free of whitespace and control characters. It is stored exactly as
// sent; uniqueness compares exact strings.
func targetURL(raw json.RawMessage) (string, *apiErr) {
	if isNull(raw) {
		return "", badRequest("target_url must not be null")
	}
	v, e := stringValue("target_url", raw)
	if e != nil {
		return "", e
	}
	if v == "" {
		return "", badRequest("target_url is required")
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", badRequest("target_url must be a valid URL")
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() {
		return "", badRequest("target_url must be a valid absolute URL")
	}
	if u.Scheme != "https" {
		return "", badRequest("target_url must use HTTPS")
	}
	if u.Hostname() == "" {
		return "", badRequest("target_url must have a host")
	}
	return v, nil
}

// eventList validates subscribed_events: a non-empty array of known types.
func (s *Server) eventList(raw json.RawMessage) ([]string, *apiErr) {
	if isNull(raw) {
		return nil, badRequest("subscribed_events must not be null")
	}
	evs, e := stringArray("subscribed_events", raw)
	if e != nil {
		return nil, e
	}
	if len(evs) == 0 {
		return nil, badRequest("subscribed_events must not be empty")
	}
	for _, ev := range evs {
		if _, ok := s.eventSet[ev]; !ok {
			return nil, badRequest(fmt.Sprintf("unknown event type %q in subscribed_events", ev))
		}
	}
	return dedupe(evs), nil
}

// phoneList validates phone_numbers. null gives a nil slice, [] an empty
// one; both mean "no filter".
func phoneList(raw json.RawMessage) ([]string, *apiErr) {
	if isNull(raw) {
		return nil, nil
	}
	pns, e := stringArray("phone_numbers", raw)
	if e != nil {
		return nil, e
	}
	for _, pn := range pns {
		if !IsE164(pn) {
			return nil, &apiErr{400, CodePhoneNumber, MsgPhoneNumber}
		}
	}
	return dedupe(pns), nil
}

// IsE164 reports whether s is an E.164 number: "+", then 2 to 15 digits, the
// first not 0.
func IsE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
