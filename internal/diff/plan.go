package diff

// Summary counts p's changes by action, with its in-sync and out-of-scope
// counts.
func (p Plan) Summary() Summary {
	s := Summary{InSync: p.InSync, OutOfScope: p.OutOfScope}
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			s.Create++
		case ActionUpdate:
			s.Update++
		case ActionDelete:
			s.Delete++
		case ActionRotate:
			s.Rotate++
		case ActionUnmanaged:
			s.Unmanaged++
		case ActionAdopt:
			s.Adopt++
		}
	}
	return s
}

// HasChanges reports whether p has pending changes: creates, updates,
// deletes, or offline adoptions. Unmanaged subscriptions are reported, not
// pending.
func (p Plan) HasChanges() bool {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate, ActionUpdate, ActionDelete, ActionRotate, ActionAdopt:
			return true
		}
	}
	return false
}

// Writes returns the number of API writes that applying p takes: one per
// create, update and delete, two per rotation (delete and create), plus
// the follow-up update of each inactive create or rotation.
func (p Plan) Writes() int {
	n := 0
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate, ActionRotate:
			n++
			if c.Action == ActionRotate {
				n++
			}
			if !c.Update.IsZero() {
				n++
			}
		case ActionUpdate, ActionDelete:
			n++
		}
	}
	return n
}
