package linq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors; an *APIError matches the one for its status with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrUnauthorized = errors.New("unauthorized: check the API token")
	ErrForbidden    = errors.New("forbidden: check the API token's permissions")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrRateLimited  = errors.New("rate limited")
	ErrServer       = errors.New("server error")
	// ErrAmbiguous marks a failed write that may nevertheless have been
	// committed by the server (timeout, dropped connection, 5xx, conflict).
	ErrAmbiguous = errors.New("outcome unknown: the write may have been applied")
	// ErrMalformedResponse marks a success status whose body could not be
	// understood (not JSON, truncated, wrong types, missing ids, or an error
	// envelope with success:false).
	ErrMalformedResponse = errors.New("malformed answer")
)

// APIError is an error answer from the API, decoded from its envelope
// {"error":{"status","code","message"},"success":false}.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Code    int
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s %s: %d (code %d): %s", e.Method, e.Path, e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, msg)
}

// Is matches the sentinel for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// IsAmbiguous reports whether err is a write failure whose effect on the
// server is unknown.
func IsAmbiguous(err error) bool { return errors.Is(err, ErrAmbiguous) }

// IsAuth reports whether err is a 401 or 403, which no retry can cure.
func IsAuth(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden)
}

// Lengths of the text taken from an answer into an error.
const (
	maxMessageLen = 300
	maxExcerptLen = 120
)

// envelope is what could be read of an error envelope.
type envelope struct {
	ok      bool
	status  int
	code    int
	message string
}

// parseEnvelope reads {"error":{"status","code","message"},"success":false}
// tolerantly: numbers may come as strings, the error may be a bare string,
// and a top-level "message" is used when there is no other.
func parseEnvelope(body []byte) envelope {
	var top struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &top) != nil {
		return envelope{}
	}
	var e envelope
	errRaw := bytes.TrimSpace(top.Error)
	switch {
	case len(errRaw) > 0 && errRaw[0] == '{':
		var inner struct {
			Status  json.RawMessage `json:"status"`
			Code    json.RawMessage `json:"code"`
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(errRaw, &inner) == nil {
			e.ok = true
			e.status = lenientInt(inner.Status)
			e.code = lenientInt(inner.Code)
			e.message = lenientString(inner.Message)
		}
	case len(errRaw) > 0 && errRaw[0] == '"':
		e.ok = true
		e.message = lenientString(errRaw)
	}
	if e.message == "" {
		if m := lenientString(top.Message); m != "" {
			e.ok = true
			e.message = m
		}
	}
	return e
}

// lenientInt reads a JSON number or numeric string as an int, else 0.
func lenientInt(raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 1_000_000_000 {
		return 0
	}
	return n
}

// lenientString reads a JSON string, else "".
func lenientString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// errorFromResponse turns an error answer into an *APIError. The message is
// the envelope's; when there is no envelope it says what came instead and,
// if quote is true, quotes a short sanitized excerpt. secrets are redacted
// from whatever is taken from the body.
func errorFromResponse(method, path string, status int, contentType string, body []byte, quote bool, secrets ...string) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	if env := parseEnvelope(bytes.TrimSpace(body)); env.ok {
		e.Code = env.code
		e.Message = truncate(sanitize(redact(env.message, secrets)), maxMessageLen)
		return e
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return e // Error() falls back to the status text.
	}
	msg := "answer without an error envelope"
	if ct := mediaType(contentType); ct != "" {
		msg += " (content type " + strconv.Quote(ct) + ")"
	}
	if quote {
		if ex := excerpt(body, secrets); ex != "" {
			msg += ": " + strconv.Quote(ex)
		}
	}
	e.Message = msg
	return e
}

// describeBody says what a body that is not the expected JSON looks like,
// for error messages: its content type and, if quote is true, a short
// sanitized excerpt.
func describeBody(contentType string, body []byte, quote bool, secrets []string) string {
	var parts []string
	if ct := mediaType(contentType); ct != "" {
		parts = append(parts, "content type "+strconv.Quote(ct))
	}
	if quote {
		if ex := excerpt(body, secrets); ex != "" {
			parts = append(parts, "body starts "+strconv.Quote(ex))
		}
	}
	return strings.Join(parts, ", ")
}

// mediaType returns the media type of a Content-Type header, bounded.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ct
	}
	return truncate(sanitize(mt), 60)
}

var (
	tagRE    = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)\s*>|<!--.*?-->|<[^>]*>`)
	secretRE = regexp.MustCompile(`whsec_[A-Za-z0-9+/=_-]*|(?i)bearer\s+\S+`)
)

// excerpt returns the start of a non-JSON body as one short line of plain
// text: markup stripped, secrets redacted, control characters dropped.
func excerpt(body []byte, secrets []string) string {
	if len(body) > 4096 {
		body = body[:4096]
	}
	s := strings.ToValidUTF8(string(body), "?")
	s = tagRE.ReplaceAllString(s, " ")
	s = strings.Join(strings.Fields(s), " ")
	return truncate(sanitize(redact(s, secrets)), maxExcerptLen)
}

// redact replaces every secret, and anything shaped like a signing secret or
// a bearer credential, with a placeholder.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return secretRE.ReplaceAllString(s, redacted)
}

// sanitize makes s safe for one line of a terminal or log: invalid UTF-8
// and control characters become '?' or spaces.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return '?'
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			return '?'
		}
		return r
	}, s)
}

// truncate shortens s to at most n runes, marking the cut with "...".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}

// statusText renders a status for messages: "200" or "599".
func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return strconv.Itoa(status) + " " + t
	}
	return strconv.Itoa(status)
}
