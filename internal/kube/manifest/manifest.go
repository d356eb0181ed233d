// Package manifest decodes Kubernetes YAML manifests into client-go's typed
// objects, strictly, with errors that name the file and line. It serves the
// deployment checks and the tests that apply the shipped manifests; linq-sync
// itself reads no manifests.
package manifest

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

// Manifest is one typed object decoded from a YAML file.
type Manifest struct {
	// File and Line locate the document's first line that is not a comment.
	File string
	Line int
	// Object is the typed object, such as *appsv1.Deployment or *rbacv1.Role.
	Object runtime.Object
}

// strict rejects unknown and duplicate fields, as `kubectl apply
// --validate=strict` and the apiserver's strict field validation do.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// Decode decodes every YAML document of data, named file in errors,
// into the typed objects of client-go's scheme, strictly: an unknown kind, an
// unknown or duplicate field, or a value of the wrong type is an error that
// names the file and the line its document starts on. Documents holding only
// comments are skipped.
func Decode(file string, data []byte) ([]Manifest, error) {
	var out []Manifest
	var errs []string
	for _, d := range splitDocuments(data) {
		if isBlank(d.text) {
			continue
		}
		obj, gvk, err := strict.Decode(d.text, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %v", file, d.errorLine(err), err))
			continue
		}
		if gvk.Kind == "" {
			errs = append(errs, fmt.Sprintf("%s:%d: no kind", file, d.line))
			continue
		}
		out = append(out, Manifest{File: file, Line: d.contentLine(), Object: obj})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

type document struct {
	text []byte
	line int
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// errorLine returns the line an error is about: that of the first unknown
// field the error names when the document has a key of that name, else the
// document's first line that is not a comment.
func (d document) errorLine(err error) int {
	lines := strings.Split(string(d.text), "\n")
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		path := strings.Split(m[1], ".")
		key := path[len(path)-1]
		for i, l := range lines {
			t := strings.TrimPrefix(strings.TrimSpace(l), "- ")
			if strings.HasPrefix(t, key+":") {
				return d.line + i
			}
		}
	}
	return d.contentLine()
}

// contentLine returns the document's first line that is not a comment.
func (d document) contentLine() int {
	for i, l := range strings.Split(string(d.text), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return d.line + i
		}
	}
	return d.line
}

// splitDocuments splits a YAML stream at its "---" lines, remembering where
// each document starts.
func splitDocuments(data []byte) []document {
	var docs []document
	cur := document{line: 1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") {
			docs = append(docs, cur)
			cur = document{line: n + 1}
			continue
		}
		cur.text = append(cur.text, line...)
		cur.text = append(cur.text, '\n')
	}
	return append(docs, cur)
}

// isBlank reports whether a document holds only comments and blank lines.
func isBlank(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}
