package linq

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/linq-sync/linq-sync/internal/strindex"
)

// fastList decodes a list answer held in memory when it has the plain shape
// the API sends: one object whose only key is "subscriptions", an array of
// objects whose keys are spelt exactly as the wire format spells them, at
// most once each, with strings that need no unescaping. It reads the bytes
// once, without reflection, and is several times faster than encoding/json
// on a list of thousands.
//
// ok is false for anything else, well-formed or not, and the caller then
// decodes with decodeListFrom, whose checks and messages are the reference:
// fastList accepts nothing that decodeListFrom refuses, and for what it
// accepts it returns what decodeListFrom returns
// (FuzzFastListAgreesWithDecodeListFrom checks both). So a pagination marker,
// an error envelope, a key in another letter case, an escaped string, a
// duplicated key, a value too large for one step or any error at all all
// take the reference path.
func fastList(body []byte) (subs []Subscription, ok bool) {
	s := fastScanner{b: body}
	if !s.consume('{') {
		return nil, false
	}
	if key, ok := s.str(); !ok || string(key) != "subscriptions" || !s.consume(':') || !s.consume('[') {
		return nil, false
	}
	// Sized for the items the answer appears to hold; a wrong guess costs
	// only capacity.
	hint := min(bytes.Count(body, []byte{'{'}), maxListItems)
	subs = make([]Subscription, 0, hint)
	seen := strindex.New(hint, func(k int) string { return subs[k].ID })
	// last is where the reference decoder would start a new step: no step
	// (the whitespace before an item, and the item) may exceed one item's
	// cap, well within what the reference decoder allows a step.
	last := 0
	if !s.consume(']') {
		for {
			if len(subs) == maxListItems {
				return nil, false
			}
			sub, ok := s.item()
			if !ok || s.i-last > maxItemBody {
				return nil, false
			}
			last = s.i
			subs = append(subs, sub)
			if _, dup := seen.Claim(sub.ID, len(subs)-1); dup {
				return nil, false
			}
			if s.consume(',') {
				continue
			}
			if !s.consume(']') {
				return nil, false
			}
			break
		}
	}
	if !s.consume('}') {
		return nil, false
	}
	s.ws()
	if s.i != len(body) || s.i-last > maxItemBody {
		return nil, false
	}
	return subs, true
}

// maxFastDepth is the deepest nesting fastList skips in an unknown value;
// deeper values take the reference path.
const maxFastDepth = 64

// fastScanner reads JSON tokens from b at i.
type fastScanner struct {
	b []byte
	i int
	// names holds one copy of each event type and environment id, which
	// repeat across a list.
	names map[string]string
}

// ws skips JSON whitespace.
func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips whitespace and c, and reports whether c was there.
func (s *fastScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (s *fastScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string that needs no unescaping and returns its content,
// which is b's own bytes. ok is false for anything else: not a string, an
// escape, a control character or bytes that are not UTF-8 (which
// encoding/json would replace).
func (s *fastScanner) str() (content []byte, ok bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	end := bytes.IndexByte(s.b[start:], '"')
	if end < 0 {
		return nil, false
	}
	content = s.b[start : start+end]
	plain, ascii := plainBytes(content)
	if !plain || !ascii && !utf8.Valid(content) {
		return nil, false
	}
	s.i = start + end + 1
	return content, true
}

// plainBytes reports whether b has no control character and no backslash
// (plain), and whether it is all ASCII. It reads eight bytes at a time and
// looks at single bytes only in a word that may hold one of those: a list
// of 10,000 subscriptions has a megabyte of string content.
func plainBytes(b []byte) (plain, ascii bool) {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	ascii = true
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		x := w ^ ones*'\\'
		if w&high == 0 && (w-ones*0x20)&^w&high == 0 && (x-ones)&^x&high == 0 {
			continue // ASCII, nothing below 0x20, no backslash
		}
		if !plainByteRun(b[i:i+8], &ascii) {
			return false, ascii
		}
	}
	return plainByteRun(b[i:], &ascii), ascii
}

// plainByteRun is plainBytes one byte at a time; it clears *ascii at a byte
// that is not ASCII.
func plainByteRun(b []byte, ascii *bool) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			*ascii = false
		}
	}
	return true
}

// name returns content as a string, one copy per distinct value.
func (s *fastScanner) name(content []byte) string {
	if v, ok := s.names[string(content)]; ok {
		return v
	}
	v := string(content)
	if s.names == nil {
		s.names = map[string]string{}
	}
	if len(s.names) < 1024 {
		s.names[v] = v
	}
	return v
}

// strs reads an array of plain strings into a slice of its exact length;
// an empty array is an empty, non-nil slice, as encoding/json makes it.
func (s *fastScanner) strs(intern bool) ([]string, bool) {
	if !s.consume('[') {
		return nil, false
	}
	if s.consume(']') {
		return []string{}, true
	}
	var buf [8]string
	out := buf[:0]
	for {
		c, ok := s.str()
		if !ok {
			return nil, false
		}
		if intern {
			out = append(out, s.name(c))
		} else {
			out = append(out, string(c))
		}
		if s.consume(',') {
			continue
		}
		if !s.consume(']') {
			return nil, false
		}
		return append(make([]string, 0, len(out)), out...), true
	}
}

// literal reads word (true, false, null) if it is next.
func (s *fastScanner) literal(word string) bool {
	if s.peek() != word[0] || !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// wireKeys are the keys of a subscription, in the order of fieldOf's
// results.
var wireKeys = [...]string{"id", "target_url", "subscribed_events", "is_active", "phone_numbers", "environment_id", "created_at", "updated_at"}

// fieldOf returns the index of key in wireKeys, -1 for a key that
// encoding/json would ignore, and -2 for one it would match in another
// letter case (or might: any key that is not ASCII).
func fieldOf(key []byte) int {
	for i, k := range wireKeys {
		if string(key) == k {
			return i
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return -2
		}
	}
	for _, k := range wireKeys {
		if strings.EqualFold(string(key), k) {
			return -2
		}
	}
	return -1
}

// fastItem is what item has read of a subscription: plain values, each
// with whether its key was present, so that nothing but the strings
// themselves is allocated.
type fastItem struct {
	seen             [len(wireKeys)]bool
	id, target, env  string
	events, phones   []string
	active, envSet   bool
	created, updated []byte
}

// item reads one subscription object and checks it as fromWire does.
func (s *fastScanner) item() (Subscription, bool) {
	if !s.consume('{') {
		return Subscription{}, false
	}
	var it fastItem
	if !s.consume('}') {
		for {
			key, ok := s.str()
			if !ok || !s.consume(':') {
				return Subscription{}, false
			}
			f := fieldOf(key)
			if f == -2 || f >= 0 && it.seen[f] {
				return Subscription{}, false
			}
			if f >= 0 {
				it.seen[f] = true
			}
			if !s.field(&it, f) {
				return Subscription{}, false
			}
			if s.consume(',') {
				continue
			}
			if !s.consume('}') {
				return Subscription{}, false
			}
			break
		}
	}
	// The wire form, as encoding/json would have filled it.
	w := wireSubscription{PhoneNumbers: it.phones, CreatedAt: it.created, UpdatedAt: it.updated}
	if it.seen[0] {
		w.ID = &it.id
	}
	if it.seen[1] {
		w.TargetURL = &it.target
	}
	if it.seen[2] {
		w.SubscribedEvents = &it.events
	}
	if it.seen[3] {
		w.IsActive = &it.active
	}
	if it.envSet {
		w.EnvironmentID = &it.env
	}
	sub, err := fromWire(&w)
	return sub, err == nil
}

// field reads the value of wireKeys[f] into it, or skips the value of an
// ignored key (f -1).
func (s *fastScanner) field(it *fastItem, f int) bool {
	var ok bool
	switch f {
	case 0, 1:
		var c []byte
		if c, ok = s.str(); !ok {
			return false
		}
		if f == 0 {
			it.id = string(c)
		} else {
			it.target = string(c)
		}
	case 2:
		it.events, ok = s.strs(true)
		return ok
	case 3:
		switch {
		case s.literal("true"):
			it.active = true
		case s.literal("false"):
		default:
			return false
		}
	case 4:
		if !s.literal("null") {
			it.phones, ok = s.strs(false)
			return ok
		}
	case 5:
		if !s.literal("null") {
			var c []byte
			if c, ok = s.str(); !ok {
				return false
			}
			it.env, it.envSet = s.name(c), true
		}
	case 6, 7:
		// The literal, quotes included, as a json.RawMessage holds it.
		s.ws()
		start := s.i
		if !s.literal("null") {
			if _, ok = s.str(); !ok {
				return false
			}
		}
		if f == 6 {
			it.created = s.b[start:s.i]
		} else {
			it.updated = s.b[start:s.i]
		}
	default:
		return s.skip(0)
	}
	return true
}

// skip reads one JSON value of any kind, checking its syntax, and returns
// false for invalid JSON or nesting deeper than maxFastDepth.
func (s *fastScanner) skip(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	switch s.peek() {
	case '"':
		return s.skipString()
	case '{':
		s.i++
		if s.consume('}') {
			return true
		}
		for {
			if s.peek() != '"' || !s.skipString() || !s.consume(':') || !s.skip(depth+1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume('}')
		}
	case '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.skipNumber()
}

// skipString reads a string, escapes included.
func (s *fastScanner) skipString() bool {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipNumber reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *fastScanner) skipNumber() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
