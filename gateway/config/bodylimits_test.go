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
