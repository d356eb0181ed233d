package fakeapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// ServeHTTP serves one API call: it counts it, applies latency and any
// fault that fires, checks the token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	route, id, known := matchRoute(r.URL.Path)
	key := r.Method + " " + route
	if !known {
		key = r.Method + " " + r.URL.Path
	}
	s.calls.count(key, isWrite(r.Method))
	body, bodyErr := readBody(w, r)
	req := Request{Method: r.Method, Route: route, Path: r.URL.Path, ID: id, Body: body}
	// The call is logged before its answer leaves, so that a client that
	// has its answer (or its dropped connection) finds the call in
	// Requests. The deferred call covers a client that gave up.
	logged := false
	finish := func(status int) {
		if logged {
			return
		}
		logged = true
		req.Status = status
		s.calls.log(req)
		s.logLine(r.Context(), req, time.Since(start))
	}
	defer func() { finish(0) }()

	p := s.faults.pick(r.Method, route, id)
	f, delay := p.action, p.before
	req.Fault = p.slowed
	if f != nil {
		req.Fault = f.Kind
	}
	delay += time.Duration(s.latency.Load())
	if delay > 0 && !sleepCtx(r.Context(), delay) {
		return // the client gave up; nothing was handled
	}
	var out outcome
	switch {
	case f != nil && !f.Kind.after():
		out = s.before(f, r.Method, route)
	default:
		resp := s.handle(r, route, id, known, body, bodyErr)
		out = outcome{resp: resp}
		if f != nil {
			if resp.created != "" {
				s.markLost(resp.created)
			}
			out = s.after(f, resp)
		}
		if p.after > 0 && !sleepCtx(r.Context(), p.after) {
			// The client gave up after the call was handled: a created
			// subscription's secret never reached it.
			if resp.created != "" && f == nil {
				s.markLost(resp.created)
			}
			return
		}
	}
	finish(out.status())
	if err := out.send(w); err != nil && out.resp != nil && out.resp.created != "" {
		s.markLost(out.resp.created)
	}
}

// readBody reads the whole body, capped at MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &apiErr{http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body too large"}
	case err != nil:
		return nil, &apiErr{http.StatusBadRequest, CodeMalformedJSON, "request body could not be read"}
	}
	return b, nil
}

// sleepCtx waits d, or less if ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) logLine(ctx context.Context, req Request, d time.Duration) {
	if s.opts.Logger == nil {
		return
	}
	route := req.Route
	if route == "" {
		route = "unknown"
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("route", route),
		slog.Int("status", req.Status),
		slog.Duration("duration", d),
	}
	if req.ID != "" {
		attrs = append(attrs, slog.String("id", req.ID))
	}
	if req.Fault != 0 {
		attrs = append(attrs, slog.String("fault", req.Fault.String()))
	}
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// handle authenticates and routes a call, committing any write.
func (s *Server) handle(r *http.Request, route, id string, known bool, body []byte, bodyErr *apiErr) *response {
	level := s.auth(r)
	if level == 0 {
		resp := (&apiErr{http.StatusUnauthorized, CodeUnauthorized, MsgUnauthorized}).response()
		resp.header = http.Header{"Www-Authenticate": {"Bearer"}}
		return resp
	}
	if !known {
		return notFound()
	}
	var allow string
	switch route {
	case RouteSubscriptions:
		allow = "GET, POST"
	case RouteSubscription:
		allow = "GET, PUT, DELETE"
	default:
		allow = "GET"
	}
	ok := false
	switch route + " " + r.Method {
	case RouteSubscriptions + " GET", RouteSubscriptions + " POST",
		RouteSubscription + " GET", RouteSubscription + " PUT", RouteSubscription + " DELETE",
		RouteEvents + " GET":
		ok = true
	}
	if !ok {
		resp := (&apiErr{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method " + r.Method + " not allowed"}).response()
		resp.header = http.Header{"Allow": {allow}}
		return resp
	}
	if level == 1 && isWrite(r.Method) {
		return (&apiErr{http.StatusForbidden, CodeForbidden, MsgForbidden}).response()
	}
	if bodyErr != nil {
		return bodyErr.response()
	}
	switch route + " " + r.Method {
	case RouteSubscriptions + " GET":
		return &response{status: http.StatusOK, body: s.store.listJSON()}
	case RouteSubscriptions + " POST":
		return s.create(body)
	case RouteSubscription + " GET":
		return s.retrieve(id)
	case RouteSubscription + " PUT":
		return s.update(id, body)
	case RouteSubscription + " DELETE":
		return s.delete(id)
	default:
		return &response{status: http.StatusOK, body: s.evBody}
	}
}

func notFound() *response {
	return (&apiErr{http.StatusNotFound, CodeNotFound, MsgNotFound}).response()
}

func (s *Server) duplicate() *response {
	return (&apiErr{s.dupStat, s.dupCode, MsgDuplicateURL}).response()
}

func (s *Server) create(body []byte) *response {
	f, e := decodeObject(body, createFields, s.opts.RejectUnknownFields)
	if e != nil {
		return e.response()
	}
	raw, ok := f["target_url"]
	if !ok {
		return badRequest("target_url is required").response()
	}
	u, e := targetURL(raw)
	if e != nil {
		return e.response()
	}
	raw, ok = f["subscribed_events"]
	if !ok {
		return badRequest("subscribed_events is required").response()
	}
	evs, e := s.eventList(raw)
	if e != nil {
		return e.response()
	}
	var pns []string
	if raw, ok := f["phone_numbers"]; ok {
		if pns, e = phoneList(raw); e != nil {
			return e.response()
		}
	}
	// Create takes no is_active; a boolean is accepted and ignored.
	if raw, ok := f["is_active"]; ok && !isNull(raw) {
		if _, e := boolValue("is_active", raw); e != nil {
			return e.response()
		}
	}

	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.urls[u] > 0 {
		return s.duplicate()
	}
	now := s.stamp()
	rec := &record{
		sub: Subscription{
			ID:               st.newID(),
			TargetURL:        u,
			SubscribedEvents: evs,
			IsActive:         true,
			PhoneNumbers:     pns,
			CreatedAt:        now,
			UpdatedAt:        now,
		},
		secret: st.newSecret(),
	}
	st.normalize(&rec.sub)
	st.insert(rec)
	return &response{
		status:  http.StatusCreated,
		body:    mustJSON(st.wire(&rec.sub, rec.secret)),
		created: rec.sub.ID,
	}
}

func (s *Server) retrieve(id string) *response {
	st := &s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	rec, ok := st.byID[id]
	if !ok {
		return notFound()
	}
	return &response{status: http.StatusOK, body: rec.json}
}

// update applies a partial update: only the fields present change.
func (s *Server) update(id string, body []byte) *response {
	f, decErr := decodeObject(body, updateFields, s.opts.RejectUnknownFields)

	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.byID[id]
	if !ok {
		return notFound()
	}
	if decErr != nil {
		return decErr.response()
	}
	next := cloneSub(rec.sub)
	if raw, ok := f["target_url"]; ok {
		u, e := targetURL(raw)
		if e != nil {
			return e.response()
		}
		next.TargetURL = u
	}
	if raw, ok := f["subscribed_events"]; ok {
		evs, e := s.eventList(raw)
		if e != nil {
			return e.response()
		}
		next.SubscribedEvents = evs
	}
	if raw, ok := f["phone_numbers"]; ok {
		pns, e := phoneList(raw)
		if e != nil {
			return e.response()
		}
		next.PhoneNumbers = pns
	}
	if raw, ok := f["is_active"]; ok {
		v, e := boolValue("is_active", raw)
		if e != nil {
			return e.response()
		}
		next.IsActive = v
	}
	if next.TargetURL != rec.sub.TargetURL && st.urls[next.TargetURL] > 0 {
		return s.duplicate()
	}
	next.UpdatedAt = s.stamp()
	st.normalize(&next)
	st.dropURL(rec.sub.TargetURL)
	st.urls[next.TargetURL]++
	rec.sub = next
	st.encode(rec)
	return &response{status: http.StatusOK, body: rec.json}
}

func (s *Server) delete(id string) *response {
	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.byID[id]
	if !ok {
		return notFound()
	}
	st.remove(rec)
	return &response{status: http.StatusNoContent}
}
