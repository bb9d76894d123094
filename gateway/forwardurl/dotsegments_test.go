package forwardurl

import (
	"bytes"
	"testing"
)

func TestRemoveDotSegments(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"/a/b/c", "/a/b/c", true},
		{"/a/./b", "/a/b", true},
		{"/a/b/../c", "/a/c", true},
		{"/web/../orders/x", "/orders/x", true},
		{"/a/.", "/a/", true},
		{"/a/b/..", "/a/", true},
		{"/a/..", "/", true},
		{"/.", "/", true},
		{"/a/%2e%2E/b", "/b", true},
		{"/a/.%2e/b", "/b", true},
		{"/a/%2E/b", "/a/b", true},
		{"/a/.../b", "/a/.../b", true},
		{"/a/..b/c", "/a/..b/c", true},
		{"/a%2F../b", "/a%2F../b", true},   // an encoded slash does not end a segment
		{"/a/%2F../b", "/a/%2F../b", true}, // "%2F.." is not a dot segment
		{"//a/../b", "//b", true},          // empty segments are kept
		{"/a//../b", "/a/b", true},         // ".." drops the empty segment before it
		{"/web/../../../etc/passwd", "", false},
		{"/..", "", false},
		{"/%2e%2e/x", "", false},
	}
	for _, c := range cases {
		got, ok := RemoveDotSegments(nil, []byte(c.in))
		if ok != c.ok || ok && string(got) != c.want {
			t.Errorf("RemoveDotSegments(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
		if has := HasDotSegment([]byte(c.in)); c.want != c.in && !has {
			t.Errorf("HasDotSegment(%q) = false, but it changes", c.in)
		}
	}
	for _, p := range []string{"/a/b", "/orders/42", "/a%2Fb/c", "/"} {
		if HasDotSegment([]byte(p)) {
			t.Errorf("HasDotSegment(%q) = true", p)
		}
	}
}

func FuzzRemoveDotSegments(f *testing.F) {
	for _, s := range []string{"/a/../b", "/./", "/%2e%2E/x", "//a/..", "/web/../../etc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if len(path) == 0 || path[0] != '/' {
			return
		}
		out, ok := RemoveDotSegments(nil, []byte(path))
		if !ok {
			return
		}
		if len(out) == 0 || out[0] != '/' {
			t.Fatalf("%q → %q: not absolute", path, out)
		}
		for _, seg := range bytes.Split(out[1:], []byte("/")) {
			if dotSegment(seg) != 0 {
				t.Fatalf("%q → %q: dot segment %q left", path, out, seg)
			}
		}
		if again, ok := RemoveDotSegments(nil, out); !ok || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q → %q", path, out, again)
		}
		if !HasDotSegment([]byte(path)) && !bytes.Equal(out, []byte(path)) {
			t.Fatalf("%q changed to %q though HasDotSegment says it has no dot segment", path, out)
		}
	})
}
