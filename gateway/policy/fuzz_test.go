package policy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

func addExampleSeeds(f *testing.F) {
	for _, pattern := range []string{"*.xml", filepath.Join("invalid", "*.xml")} {
		files, _ := filepath.Glob(filepath.Join(examplesDir, pattern))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(docsVersionRouting))
	f.Add([]byte(docsServiceFabric))
	f.Add([]byte(`<policies><inbound><set-header name="a"><value>@{ return "<x>" + "&amp;"; }</value></set-header></inbound></policies>`))
	f.Add([]byte(`<policies><inbound><choose><when condition='@(1 &lt; 2 && "a" != "b")' /></choose></inbound></policies>`))
	f.Add([]byte(`<policies><!-- @( --><inbound><![CDATA[@(]]></inbound></policies>`))
	f.Add([]byte(`<policies><inbound><set-variable name="x" value="@($"a{context.Variables["k"]}b")" /></inbound></policies>`))
	f.Add([]byte("<policies>\n<inbound>\n<set-variable name=\"x\" value=\"  @(')'.ToString() + '\\u0029' + \"{{n}}\" + &quot;a&quot;)\" />\n</inbound>\n</policies>"))
	f.Add([]byte(`<policies><inbound><set-variable name="x" value="@{ var s = "}"; /* " */ return s + '"'; }" /><rewrite-uri template="/a/{id}?q={id}" /></inbound></policies>`))
}

// FuzzRewrite checks the expression-aware pre-pass on arbitrary text: it returns rewritten
// text or an error, keeps every line break (so positions stay right), and records ordered spans.
func FuzzRewrite(f *testing.F) {
	addExampleSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > maxDocumentSize {
			return
		}
		out, spans, err := rewrite(src)
		if err != nil {
			var pe *prepassError
			if !errors.As(err, &pe) || pe.off < 0 || pe.off > len(src) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if bytes.Count(out, []byte("\n")) != bytes.Count(src, []byte("\n")) {
			t.Fatalf("line breaks changed: %q -> %q", src, out)
		}
		for i, s := range spans {
			if s.origStart > s.origEnd || s.origEnd > len(src) || s.newEnd > len(out) || (i > 0 && s.origStart < spans[i-1].origEnd) {
				t.Fatalf("bad span %+v", s)
			}
		}
	})
}

// FuzzParse runs whole documents through Parse, Compile and the inbound section: an error is a
// *policy.Error with a position; nothing panics.
func FuzzParse(f *testing.F) {
	addExampleSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Parse(Source{File: "fuzz.xml", Line: 1, Text: src}, NamedValues{"n": "1"})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1 || pe.File != "fuzz.xml" {
				t.Fatalf("bad error %T %v", err, err)
			}
			if lines := 1 + bytes.Count(src, []byte("\n")); pe.Line > lines {
				t.Fatalf("error line %d is past the document's %d lines: %v", pe.Line, lines, err)
			}
			return
		}
		p, err := Compile(Chain{API: d})
		if err != nil {
			return
		}
		c := request(t, "GET", "http://gw/api/partners/15?version=2013-05&userId=7")
		var r Result
		err = p.Inbound(c, &r)
		var ee *expr.EvalError
		if err != nil && !errors.As(err, &ee) && err.Error() == "" {
			t.Fatalf("inbound error without text")
		}
		if ee != nil && strings.HasPrefix(ee.Msg, "internal error") {
			t.Fatalf("evaluation panicked: %v", ee)
		}
		if err == nil && !r.Return.Set {
			// the backend and outbound sections too; a cancelled context ends retry waits at once
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err = p.Backend(ctx, c, &r, &fakeForwarder{outcomes: []error{connErr{}}, status: 503})
			if err == nil && c.Response != nil {
				var resp fasthttp.Response
				c.Response.Header = &resp.Header
				err = p.Outbound(c, &r)
			}
		}
		if errors.As(err, &ee) && strings.HasPrefix(ee.Msg, "internal error") {
			t.Fatalf("evaluation panicked: %v", ee)
		}
		c.LastError = expr.AsLastError(err)
		_ = p.OnError(c, &r)
	})
}

// TestPathologicalDocumentsFinish feeds inputs that would make a naive pre-pass re-scan the
// rest of the document for every attribute; the pass must stay linear and report an error.
func TestPathologicalDocumentsFinish(t *testing.T) {
	inputs := map[string][]byte{
		"unclosed attribute expressions": append([]byte("<policies><inbound><x "), bytes.Repeat([]byte(`a="@(" `), 40000)...),
		"unclosed text expressions":      bytes.Repeat([]byte(`<value>@("</value>`), 20000),
		"deep brackets":                  append([]byte(`<policies><inbound><set-variable name="x" value="@`), bytes.Repeat([]byte("("), 100000)...),
		"deep elements":                  bytes.Repeat([]byte("<choose>"), 10000),
	}
	for name, in := range inputs {
		if _, err := Parse(Source{File: "p.xml", Line: 1, Text: in}, nil); err == nil {
			t.Errorf("%s: loaded", name)
		} else {
			t.Logf("%s: %.150s", name, err)
		}
	}
}
