package config

import (
	"strings"
	"testing"
)

func TestBufferBodyBytes(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\nlimits: {maxBodyBytes: 1000}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.BufferBodyBytes != 1000 {
		t.Errorf("bufferBodyBytes defaults to %d, want maxBodyBytes (1000)", cfg.Limits.BufferBodyBytes)
	}
	_, err = Parse([]byte("apis: [{name: a}]\nlimits: {maxBodyBytes: 1000, bufferBodyBytes: 2000}\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "limits.bufferBodyBytes: 2000 is outside 0..maxBodyBytes (1000)") {
		t.Errorf("got %v", err)
	}
}

// TestBodyLimitsZeroMeansNoLimit: the reverse-proxy configuration of docs/reverse-proxy.md loads as written;
// 0 written is no limit, a limit left out gets its default, and a negative one is refused with the field.
func TestBodyLimitsZeroMeansNoLimit(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\nlimits:\n  bufferBodyBytes: 1048576\n  maxBodyBytes: 0\n  maxResponseBodyBytes: 0\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.MaxBodyBytes != 0 || l.MaxResponseBodyBytes != 0 || l.BufferBodyBytes != 1048576 {
		t.Errorf("limits %+v, want maxBodyBytes 0, maxResponseBodyBytes 0, bufferBodyBytes 1048576", l)
	}
	cfg, err = Parse([]byte("apis: [{name: a}]\nlimits: {maxBodyBytes: 0}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.BufferBodyBytes != DefaultBufferBodyBytes || l.MaxResponseBodyBytes != DefaultMaxResponseBodyBytes {
		t.Errorf("with maxBodyBytes 0 alone: bufferBodyBytes %d, maxResponseBodyBytes %d; want the defaults %d and %d",
			l.BufferBodyBytes, l.MaxResponseBodyBytes, DefaultBufferBodyBytes, DefaultMaxResponseBodyBytes)
	}
	cfg, err = Parse([]byte("apis: [{name: a}]\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.MaxBodyBytes != DefaultMaxBodyBytes || l.BufferBodyBytes != DefaultMaxBodyBytes || l.TunnelMaxLifetime != 0 {
		t.Errorf("defaults %+v", l)
	}
	for _, tc := range []struct{ limits, want string }{
		{"{maxBodyBytes: -1}", "x.yaml:2:10: limits.maxBodyBytes: -1 is negative"},
		{"{maxResponseBodyBytes: -5}", "limits.maxResponseBodyBytes: -5 is negative"},
		{"{maxBodyBytes: 0, bufferBodyBytes: -1}", "limits.bufferBodyBytes: -1 is outside"},
	} {
		_, err := Parse([]byte("apis: [{name: a}]\nlimits: "+tc.limits+"\n"), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("limits %s: %v, want %q", tc.limits, err, tc.want)
		}
	}
}
