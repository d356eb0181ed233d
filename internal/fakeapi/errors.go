package fakeapi

import (
	"net/http"
	"strconv"
)

// Envelope codes. CodePhoneNumber, CodeNotFound, CodeUnauthorized,
// CodeForbidden and CodeInternal are published by the API; the others are
// this server's choice for behaviours the API does not publish.
const (
	CodeValidation       = 1001 // 400: an invalid or missing field
	CodePhoneNumber      = 1002 // 400: "Phone number must be in E.164 format" (published)
	CodeMalformedJSON    = 1003 // 400: the body is not a JSON object
	CodeBodyTooLarge     = 1004 // 413: the body exceeds MaxBodyBytes
	CodeMethodNotAllowed = 1005 // 405: the path exists, the method does not
	CodeDuplicateURL     = 1009 // Options.DuplicateURLStatus: target_url already used
	CodeRateLimited      = 1029 // 429: FaultRateLimit
	CodeNotFound         = 2001 // 404: "Resource not found" (published)
	CodeUnauthorized     = 2004 // 401 (published)
	CodeForbidden        = 2005 // 403 (published)
	CodeInternal         = 3006 // 500: "Internal server error" (published)
)

// Published messages.
const (
	MsgPhoneNumber  = "Phone number must be in E.164 format"
	MsgUnauthorized = "Unauthorized - missing or invalid authentication token"
	MsgForbidden    = "Access denied - insufficient permissions for this resource"
	MsgNotFound     = "Resource not found"
	MsgInternal     = "Internal server error"
	MsgRateLimited  = "Too many requests"
	MsgDuplicateURL = "A webhook subscription with this target_url already exists"
)

// apiErr is an error answer before it is encoded.
type apiErr struct {
	status int
	code   int
	msg    string
}

func badRequest(msg string) *apiErr { return &apiErr{http.StatusBadRequest, CodeValidation, msg} }

// ErrorBody returns the API's error envelope for status, code and message.
func ErrorBody(status, code int, message string) []byte {
	type inner struct {
		Status  int    `json:"status"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	return mustJSON(struct {
		Error   inner `json:"error"`
		Success bool  `json:"success"`
	}{inner{status, code, message}, false})
}

func (e *apiErr) response() *response {
	return &response{status: e.status, body: ErrorBody(e.status, e.code, e.msg)}
}

// response is an answer before it is written, so that faults can replace or
// mangle it after the handler committed.
type response struct {
	status int
	header http.Header
	body   []byte
	// created is the id of a subscription this call created.
	created string
}

func (r *response) write(w http.ResponseWriter) error {
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	if len(r.body) > 0 {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(r.body)))
	}
	w.WriteHeader(r.status)
	if len(r.body) == 0 {
		return nil
	}
	_, err := w.Write(r.body)
	return err
}
