package config

import "strings"

// EditDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours each cost 1.
// The command line's suggestions for mistyped flags use it too.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: the current one and the two before it.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// normalizeKey folds the differences that are never meaningful in a key:
// case, and - versus _.
func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// keySynonyms maps names people reach for to the file's own key names.
var keySynonyms = map[string]string{
	"url":          "target_url",
	"endpoint":     "target_url",
	"webhook_url":  "target_url",
	"webhook":      "target_url",
	"events":       "subscribed_events",
	"event_types":  "subscribed_events",
	"phones":       "phone_numbers",
	"phone":        "phone_numbers",
	"numbers":      "phone_numbers",
	"active":       "is_active",
	"enabled":      "is_active",
	"subscription": "subscriptions",
	"webhooks":     "subscriptions",
	"uuid":         "id",
}

// closest returns the candidate nearest to s, or "" when none is near
// enough to be a plausible typo.
func closest(s string, candidates []string) string {
	if len(s) > 256 {
		return "" // not a typo, and too costly to compare
	}
	ns := normalizeKey(s)
	if syn, ok := keySynonyms[ns]; ok {
		for _, c := range candidates {
			if c == syn {
				return c
			}
		}
	}
	best, bestD := "", -1
	for _, c := range candidates {
		d := EditDistance(ns, normalizeKey(c))
		limit := max(1, len([]rune(c))/3)
		if d > limit {
			continue
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean formats a suggestion suffix, or "" when there is none.
func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" && c != s {
		return " (did you mean " + quote(c) + "?)"
	}
	return ""
}
