package planfmt

import (
	"strconv"

	"github.com/linq-sync/linq-sync/internal/diff"
)

// field is one field of a change, rendered, as the text and Markdown
// renderers list it under the change. A new field of a subscription is
// added here, in fields, and both renderers show it.
type field struct {
	name string
	// value is the field's value in a create, or in the existing
	// subscription of a delete or unmanaged.
	value string
	// update marks a changed field of an update: old and new are its
	// values, or, when set, added and removed are the members that change.
	update         bool
	old, new       string
	set            bool
	added, removed []string
}

// fields yields the field lines of c: what a create will set (an
// adoption: what the entry declares), what an update changes, what a delete removes or an unmanaged subscription
// holds. target_url is not among them for a create, delete or unmanaged:
// each renderer shows it in its own place. inline asks for the one-line
// form of the text renderers, which brackets a changed phone list so that
// "a, b -> c" cannot be misread.
func fields(c diff.Change, inline bool) []field {
	switch c.Action {
	case diff.ActionCreate, diff.ActionRotate:
		active := "true"
		if !createIsActive(c) {
			active = "false (created, then deactivated: 2 writes)"
		}
		return []field{
			{name: "subscribed_events", value: list(c.Create.SubscribedEvents, "(none)")},
			{name: "phone_numbers", value: phoneListOrAll(c.Create.PhoneNumbers)},
			{name: "is_active", value: active},
		}
	case diff.ActionAdopt:
		// As declared: offline, the subscription's current state is unknown.
		return []field{
			{name: "subscribed_events", value: list(c.Create.SubscribedEvents, "(none)")},
			{name: "phone_numbers", value: phoneListOrAll(c.Create.PhoneNumbers)},
			{name: "is_active", value: strconv.FormatBool(createIsActive(c))},
		}
	case diff.ActionUpdate:
		out := make([]field, 0, len(c.Fields))
		for _, f := range c.Fields {
			fl := field{name: clean(f.Field), update: true}
			switch f.Field {
			case "subscribed_events":
				fl.set = true
				for _, a := range f.Added {
					fl.added = append(fl.added, clean(a))
				}
				for _, r := range f.Removed {
					fl.removed = append(fl.removed, clean(r))
				}
			case "phone_numbers":
				show := phoneListOrAll
				if inline {
					show = phoneList
				}
				fl.old, fl.new = show(strs(f.Old)), show(strs(f.New))
			default:
				fl.old, fl.new = scalar(f.Old), scalar(f.New)
			}
			out = append(out, fl)
		}
		return out
	}
	if c.Current == nil {
		return nil
	}
	return []field{
		{name: "subscribed_events", value: list(sortedCopy(c.Current.SubscribedEvents), "(none)")},
		{name: "phone_numbers", value: phoneListOrAll(sortedCopy(c.Current.PhoneNumbers))},
		{name: "is_active", value: strconv.FormatBool(c.Current.IsActive)},
	}
}
