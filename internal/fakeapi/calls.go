package fakeapi

import (
	"maps"
	"sync"
)

// Request is one call as the server saw it.
type Request struct {
	Method string
	// Route is the route pattern, "" for a path the API does not have.
	Route string
	// Path is the path as received.
	Path string
	// ID is the subscription id of an item route.
	ID   string
	Body []byte
	// Status is the status sent, 0 when no answer was sent (a dropped
	// connection, or a client that gave up during latency).
	Status int
	// Fault is the fault that shaped the answer, 0 for none.
	Fault FaultKind
}

type calls struct {
	mu     sync.Mutex
	counts map[string]int
	writes int
	reqs   []Request
	max    int
}

func (c *calls) count(key string, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	c.counts[key]++
	if write {
		c.writes++
	}
}

func (c *calls) log(r Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, r)
	if c.max > 0 && len(c.reqs) >= 2*c.max {
		n := copy(c.reqs, c.reqs[len(c.reqs)-c.max:])
		clear(c.reqs[n:])
		c.reqs = c.reqs[:n]
	}
}

// Calls returns how many calls arrived per "METHOD ROUTE" key, such as
// "PUT /v3/webhook-subscriptions/{id}"; a path the API does not have is
// keyed by the raw path. Every call counts, refused and faulted ones too,
// from the moment it arrives.
func (s *Server) Calls() map[string]int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return maps.Clone(s.calls.counts)
}

// Count returns the number of calls with key (see Calls).
func (s *Server) Count(key string) int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return s.calls.counts[key]
}

// Writes returns the number of calls whose method is not GET, HEAD or
// OPTIONS.
func (s *Server) Writes() int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return s.calls.writes
}

// ResetCalls zeroes the counts and empties the request log.
func (s *Server) ResetCalls() {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	s.calls.counts = nil
	s.calls.writes = 0
	s.calls.reqs = nil
}

// Requests returns the request log in the order answered: every call since
// the last ResetCalls, or only the latest Options.MaxRequestLog when set.
func (s *Server) Requests() []Request {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	out := make([]Request, len(s.calls.reqs))
	for i, r := range s.calls.reqs {
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	if s.calls.max > 0 && len(out) > s.calls.max {
		out = out[len(out)-s.calls.max:]
	}
	return out
}
