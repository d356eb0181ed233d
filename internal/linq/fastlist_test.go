package linq

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// agree fails unless decodeListFrom, the reference decoder, accepts body
// and returns subs.
func agree(t *testing.T, body []byte, subs []Subscription) {
	t.Helper()
	want, err := decodeListFrom(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("fastList accepted %q, which decodeListFrom refuses: %v", body, err)
	}
	if !reflect.DeepEqual(subs, want) {
		t.Fatalf("fastList(%q) =\n%#v\nwant (decodeListFrom)\n%#v", body, subs, want)
	}
}

func TestFastListReadsThePlainShape(t *testing.T) {
	tests := []struct{ name, body string }{
		{"two items", listAB},
		{"empty list", `{"subscriptions":[]}`},
		{"whitespace everywhere", " \n{ \"subscriptions\" :\t[ " + subA + " ,\r\n" + subB + " ] }\n"},
		{"empty arrays", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":false,"phone_numbers":[]}]}`},
		{"null timestamps and environment", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":["x"],"is_active":true,"created_at":null,"updated_at":"","environment_id":null}]}`},
		{"unknown keys of every kind", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":["x"],"is_active":true,` +
			`"n":-1.5e+3,"z":0,"s":"a\"b\\u00e9","t":true,"f":false,"nul":null,"o":{"k":[1,{"x":[]}],"e":{}},"l":[[],"x"]}]}`},
		{"non-ASCII text", `{"subscriptions":[{"id":"a","target_url":"https://hôte.example/é","subscribed_events":["x"],"is_active":true}]}`},
		{"timestamp forms", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":"2026-01-02T03:04:05","updated_at":"2026-01-02 03:04:05+02:00"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subs, ok := fastList([]byte(tt.body))
			if !ok {
				t.Fatalf("fastList refused %s", tt.body)
			}
			agree(t, []byte(tt.body), subs)
		})
	}
}

// TestFastListLeavesTheRestToTheReferenceDecoder lists answers, good and
// bad, that fastList does not read itself; decodeList still accepts the
// good ones through decodeListFrom, with decodeListFrom's messages for the
// bad.
func TestFastListLeavesTheRestToTheReferenceDecoder(t *testing.T) {
	item := `{"id":"a","target_url":"u","subscribed_events":["x"],"is_active":true}`
	tests := []struct {
		name    string
		body    string
		wantErr string // "" when decodeList accepts the answer
	}{
		{"other top-level keys", `{"success":true,"error":null,"subscriptions":[` + item + `]}`, ""},
		{"list key in other case", `{"Subscriptions":[` + item + `]}`, ""},
		{"item key in other case", `{"subscriptions":[{"ID":"a","target_url":"u","subscribed_events":["x"],"is_active":true}]}`, ""},
		{"item key with a non-ASCII letter", `{"subscriptions":[{"id":"a","target_url":"u","ſubscribed_events":["x"],"is_active":true}]}`, ""},
		{"escaped string", `{"subscriptions":[{"id":"a","target_url":"u\/v","subscribed_events":["x"],"is_active":true}]}`, ""},
		{"escaped timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":"2026-01-02T03:04:05\u005a"}]}`, ""},
		{"item key twice", `{"subscriptions":[{"id":"a","id":"b","target_url":"u","subscribed_events":["x"],"is_active":true}]}`, ""},
		{"null event", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":["x",null],"is_active":true}]}`, ""},
		{"invalid UTF-8", "{\"subscriptions\":[{\"id\":\"a\",\"target_url\":\"u\xff\",\"subscribed_events\":[],\"is_active\":true}]}", ""},
		{"has_more true", `{"subscriptions":[` + item + `],"has_more":true}`, "one page of several"},
		{"null list", `{"subscriptions":null}`, `"subscriptions" is null`},
		{"repeated id", `{"subscriptions":[` + item + `,` + item + `]}`, `id "a" repeats subscriptions[0]`},
		{"missing is_active", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[]}]}`, `subscription "a": no is_active`},
		{"number id", `{"subscriptions":[{"id":7}]}`, `field "id": number where a string was expected`},
		{"bad timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":"yesterday"}]}`, "not RFC 3339"},
		{"bad number in unknown key", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"x":01}]}`, "invalid JSON"},
		{"trailing comma", `{"subscriptions":[` + item + `,]}`, "invalid JSON"},
		{"trailing data", `{"subscriptions":[]} {}`, "data after the object"},
		{"truncated", `{"subscriptions":[` + item[:30], "truncated JSON"},
		{"empty", ``, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := fastList([]byte(tt.body)); ok {
				t.Fatalf("fastList read %s itself", tt.body)
			}
			subs, err := decodeList([]byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("decodeList: %v, want it accepted", err)
			case tt.wantErr == "" && len(subs) != 1:
				t.Fatalf("decodeList = %d subscriptions, want 1", len(subs))
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("decodeList error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestFastListLeavesAnOverlongStepToTheReferenceDecoder(t *testing.T) {
	item := `{"id":"a","target_url":"u","subscribed_events":[],"is_active":true}`
	tests := []struct{ name, body string }{
		{"whitespace before an item", `{"subscriptions":[` + strings.Repeat(" ", maxItemBody) + item + `]}`},
		{"an item", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"x":"` + strings.Repeat("x", maxItemBody) + `"}]}`},
		{"whitespace at the end", `{"subscriptions":[` + item + `]}` + strings.Repeat("\n", maxItemBody)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := fastList([]byte(tt.body)); ok {
				t.Fatal("fastList read an answer with a step over maxItemBody")
			}
		})
	}
}

func TestFastListLeavesTooManyItemsToTheReferenceDecoder(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"subscriptions":[`)
	for i := range maxListItems + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","target_url":"u","subscribed_events":[],"is_active":true}`, i)
	}
	b.WriteString(`]}`)
	body := []byte(b.String())
	if _, ok := fastList(body); ok {
		t.Fatal("fastList read more than maxListItems items")
	}
	if _, err := decodeList(body); err == nil || !strings.Contains(err.Error(), "more than "+strconv.Itoa(maxListItems)) {
		t.Fatalf("decodeList error %v, want the item cap", err)
	}
}

// TestListDecodesAnAnswerOfDeclaredOrUnknownLength checks that List
// returns the same subscriptions whether the answer declares its length
// (read whole, fast path) or is chunked (decoded as it arrives).
func TestListDecodesAnAnswerOfDeclaredOrUnknownLength(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(listAB)))
					_, _ = w.Write([]byte(listAB))
					return
				}
				for part := range strings.SplitAfterSeq(listAB, ",") {
					_, _ = w.Write([]byte(part))
					w.(http.Flusher).Flush()
				}
			}))
			t.Cleanup(srv.Close)
			c := newHarness(t, srv.URL).c
			got, err := c.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want, err := decodeListFrom(strings.NewReader(listAB))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("List = %+v, want %+v", got, want)
			}
		})
	}
}

func TestListRefusesAnAnswerShorterThanItsDeclaredLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(listAB)+100))
		_, _ = w.Write([]byte(listAB))
	}))
	t.Cleanup(srv.Close)
	c := newHarness(t, srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 1})).c
	subs, err := c.List(context.Background())
	if err == nil || subs != nil {
		t.Fatalf("List = %d subscriptions, %v; want an error", len(subs), err)
	}
	if !strings.Contains(err.Error(), "cut short") {
		t.Errorf("error %q does not say the answer was cut short", err)
	}
}

func TestDecodeListAnswerReadsPastADeclaredLengthThatIsTooShort(t *testing.T) {
	// Not an HTTP body (which never runs past its length), but the
	// decoder must not trust the length to end the answer.
	body := listAB + " "
	subs, err := decodeListAnswer(strings.NewReader(body), 10)
	if err != nil || len(subs) != 2 {
		t.Fatalf("decodeListAnswer = %d subscriptions, %v; want 2", len(subs), err)
	}
	if _, err := decodeListAnswer(strings.NewReader(listAB+"{}"), int64(len(listAB))); err == nil {
		t.Fatal("decodeListAnswer accepted data after the object past the declared length")
	}
}

// FuzzFastListAgreesWithDecodeListFrom checks that fastList accepts only
// what decodeListFrom accepts, and returns what it returns.
func FuzzFastListAgreesWithDecodeListFrom(f *testing.F) {
	addSeeds(f, listAB, `{"subscriptions":[]}`, `{"subscriptions":null}`, `{"subscriptions":[`+subA+`,`+subA+`]}`,
		`{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"x":{"y":[1,-2.5e3,"\u00e9",null,true]}}]}`,
		`{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":null,"environment_id":"e"}]}`,
		`{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":["x"],"is_active":true,"phone_numbers":[]}]}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		subs, ok := fastList(body)
		if !ok {
			return
		}
		agree(t, body, subs)
	})
}

// TestPlainBytesFindsEveryByteAnywhere puts each byte value at every
// position of a string long enough for several eight-byte words.
func TestPlainBytesFindsEveryByteAnywhere(t *testing.T) {
	base := []byte("https://hooks07.example.com/linq/1234?version=2026")
	for c := range 256 {
		for at := range base {
			b := slices.Clone(base)
			b[at] = byte(c)
			wantPlain, wantASCII := c >= 0x20 && c != '\\', c < 0x80
			if plain, ascii := plainBytes(b); plain != wantPlain || plain && ascii != wantASCII {
				t.Fatalf("byte 0x%02x at %d: plainBytes = %v, %v; want %v, %v", c, at, plain, ascii, wantPlain, wantASCII)
			}
		}
	}
}
