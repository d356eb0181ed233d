package config

import (
	"fmt"
	"slices"
)

// KnownEventTypes is the built-in list of webhook event types: the 27 that
// the Linq API v3 publishes (SDK 0.28). Offline, an event outside it is a
// warning; online, GET /v3/webhook-events is the authority (see
// CheckEventTypes). Treat it as read-only.
var KnownEventTypes = []string{
	"message.sent",
	"message.received",
	"message.read",
	"message.delivered",
	"message.failed",
	"message.edited",
	"reaction.added",
	"reaction.removed",
	"participant.added",
	"participant.removed",
	"chat.created",
	"chat.group_name_updated",
	"chat.group_icon_updated",
	"chat.group_name_update_failed",
	"chat.group_icon_update_failed",
	"chat.typing_indicator.started",
	"chat.typing_indicator.stopped",
	"phone_number.status_updated",
	"call.initiated",
	"call.ringing",
	"call.answered",
	"call.ended",
	"call.failed",
	"call.declined",
	"call.no_answer",
	"location.sharing.started",
	"location.sharing.stopped",
}

// CheckEventTypes is the online event check: it returns an error diagnostic,
// positioned at the list item, for every subscribed event of cfg that is not
// in known (the list GET /v3/webhook-events returned). It returns nil for a
// nil cfg or when every event is known.
func CheckEventTypes(cfg *Config, known []string) Diagnostics {
	if cfg == nil {
		return nil
	}
	set := make(map[string]bool, len(known))
	for _, k := range known {
		set[k] = true
	}
	sorted := slices.Clone(known)
	slices.Sort(sorted)
	var ds Diagnostics
	for i, s := range cfg.Subscriptions {
		for j, ev := range s.SubscribedEvents {
			if set[ev] {
				continue
			}
			pos := s.Pos
			if j < len(s.FieldPos.Events) {
				pos = s.FieldPos.Events[j]
			}
			ds = append(ds, Diagnostic{
				File:     cfg.Path,
				Line:     max(pos.Line, 1),
				Col:      max(pos.Col, 1),
				Path:     fmt.Sprintf("subscriptions[%d].subscribed_events[%d]", i, j),
				Message:  fmt.Sprintf("unknown event type %q: the API does not offer it%s", ev, didYouMean(ev, sorted)),
				Severity: SeverityError,
			})
		}
	}
	return ds
}
