package planfmt

import (
	"encoding/json"
	"io"
	"slices"

	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// FormatVersion is the version of the JSON document JSON writes. It changes
// only when a documented key is removed or changes meaning; new keys may be
// added without a change (README.md, "Plan JSON").
const FormatVersion = 1

type jsonPlan struct {
	FormatVersion int          `json:"format_version"`
	Summary       jsonSummary  `json:"summary"`
	Changes       []jsonChange `json:"changes"`
	Errors        []jsonError  `json:"errors"`
	// Offline is set for plan --offline; CannotKnow says then what such a
	// plan cannot know ([] otherwise).
	Offline    bool     `json:"offline"`
	CannotKnow []string `json:"cannot_know"`
	// Custody is empty when no secret store was read.
	Custody []jsonCustody `json:"custody"`
	// Deferred lists the verified moves held back.
	Deferred []jsonDeferred `json:"deferred"`
}

type jsonDeferred struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

type jsonCustody struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

type jsonSummary struct {
	Create     int `json:"create"`
	Update     int `json:"update"`
	Delete     int `json:"delete"`
	Rotate     int `json:"rotate"`
	Unmanaged  int `json:"unmanaged"`
	InSync     int `json:"in_sync"`
	OutOfScope int `json:"out_of_scope"`
	Adopt      int `json:"adopt"`
}

type jsonChange struct {
	Action    string            `json:"action"`
	Name      string            `json:"name"`
	ID        string            `json:"id"`
	TargetURL string            `json:"target_url"`
	Line      int               `json:"line"`
	Col       int               `json:"col"`
	Fields    []jsonField       `json:"fields"`
	Create    *jsonSubscription `json:"create"`
	Current   *jsonSubscription `json:"current"`
	Notes     []string          `json:"notes"`
}

type jsonField struct {
	Field   string   `json:"field"`
	Old     any      `json:"old"`
	New     any      `json:"new"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

type jsonSubscription struct {
	TargetURL        string   `json:"target_url"`
	SubscribedEvents []string `json:"subscribed_events"`
	PhoneNumbers     []string `json:"phone_numbers"`
	IsActive         bool     `json:"is_active"`
	EnvironmentID    *string  `json:"environment_id"`
}

type jsonError struct {
	Name    string `json:"name"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sortedCopy returns a sorted copy of s, never nil.
func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// JSON writes p as the stable document described in README.md ("Plan JSON"):
// format_version, summary, changes and errors, with every documented key
// present and no array null.
func JSON(w io.Writer, p diff.Plan, opts Options) error {
	s := p.Summary()
	doc := jsonPlan{
		FormatVersion: FormatVersion,
		Summary: jsonSummary{
			Create: s.Create, Update: s.Update, Delete: s.Delete, Rotate: s.Rotate,
			Unmanaged: s.Unmanaged, InSync: s.InSync, OutOfScope: s.OutOfScope, Adopt: s.Adopt,
		},
		Changes:    make([]jsonChange, 0, len(p.Changes)),
		Errors:     make([]jsonError, 0, len(p.Errors)),
		Custody:    make([]jsonCustody, 0, len(p.Custody)),
		Deferred:   make([]jsonDeferred, 0, len(p.Deferred)),
		Offline:    opts.Offline,
		CannotKnow: []string{},
	}
	if opts.Offline {
		doc.CannotKnow = append(doc.CannotKnow, offlineUnknowns...)
	}
	for _, d := range p.Deferred {
		doc.Deferred = append(doc.Deferred, jsonDeferred{Name: d.Name, ID: d.ID, From: d.From, To: d.To, Reason: d.Reason})
	}
	for _, c := range p.Custody {
		doc.Custody = append(doc.Custody, jsonCustody{Name: c.Name, ID: c.ID, Secret: string(c.State), Reason: c.Reason, Detail: c.Detail})
	}
	for _, c := range p.Changes {
		jc := jsonChange{
			Action:    string(c.Action),
			Name:      c.Name,
			ID:        c.ID,
			TargetURL: c.TargetURL,
			Fields:    make([]jsonField, 0, len(c.Fields)),
			Notes:     nonNil(c.Notes),
		}
		if c.Desired != nil {
			jc.Line, jc.Col = c.Desired.Pos.Line, c.Desired.Pos.Col
		}
		for _, f := range c.Fields {
			jf := jsonField{Field: f.Field, Old: f.Old, New: f.New, Added: nonNil(f.Added), Removed: nonNil(f.Removed)}
			if v, ok := f.Old.([]string); ok {
				jf.Old = nonNil(v)
			}
			if v, ok := f.New.([]string); ok {
				jf.New = nonNil(v)
			}
			jc.Fields = append(jc.Fields, jf)
		}
		if c.Action == diff.ActionCreate || c.Action == diff.ActionRotate {
			jc.Create = &jsonSubscription{
				TargetURL:        c.Create.TargetURL,
				SubscribedEvents: nonNil(c.Create.SubscribedEvents),
				PhoneNumbers:     nonNil(c.Create.PhoneNumbers),
				IsActive:         createIsActive(c),
			}
		}
		if c.Current != nil {
			jc.Current = currentJSON(c.Current)
		}
		doc.Changes = append(doc.Changes, jc)
	}
	for _, e := range p.Errors {
		doc.Errors = append(doc.Errors, jsonError{Name: e.Name, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func currentJSON(s *linq.Subscription) *jsonSubscription {
	return &jsonSubscription{
		TargetURL:        s.TargetURL,
		SubscribedEvents: sortedCopy(s.SubscribedEvents),
		PhoneNumbers:     sortedCopy(s.PhoneNumbers),
		IsActive:         s.IsActive,
		EnvironmentID:    s.EnvironmentID,
	}
}
