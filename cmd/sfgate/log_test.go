package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway"
	"github.com/sfgate/sfgate/gateway/config"
)

// A logger derived with With keeps its attributes when the format changes, the level follows apply, and
// durations are seconds in both formats.
func TestLogSettingsApplyToDerivedLoggers(t *testing.T) {
	var buf bytes.Buffer
	logger, settings := newLogger(config.Log{}, &buf)
	derived := logger.With("component", "x")
	derived.Debug("hidden")
	derived.Info("text line", "took", 1500*time.Millisecond)
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=\"text line\" component=x took=1.5\n") {
		t.Errorf("text, info: %q", got)
	}
	buf.Reset()
	settings.apply(config.Log{Level: "debug", Format: "json"})
	derived.Debug("json line", "took", 250*time.Millisecond)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "json line" || m["component"] != "x" || m["took"] != 0.25 {
		t.Errorf("json, debug: %q (%v)", buf.String(), err)
	}
}

// The process's handler takes the gateway's request lines ready-made, in the current format; a derived one
// does not (its lines carry its attributes).
func TestLogHandlerTakesRequestLines(t *testing.T) {
	var buf bytes.Buffer
	logger, settings := newLogger(config.Log{}, &buf)
	lw, ok := logger.Handler().(gateway.LineWriter)
	if !ok {
		t.Fatal("the process's log handler is no gateway.LineWriter")
	}
	if json, ok := lw.LineLayout(); json || !ok {
		t.Errorf("text format: LineLayout %v %v", json, ok)
	}
	settings.apply(config.Log{Format: "json"})
	if json, ok := lw.LineLayout(); !json || !ok {
		t.Errorf("json format: LineLayout %v %v", json, ok)
	}
	if err := lw.WriteLine([]byte("{\"msg\":\"request\"}\n")); err != nil || buf.String() != "{\"msg\":\"request\"}\n" {
		t.Errorf("WriteLine: %q %v", buf.String(), err)
	}
	if _, ok := logger.With("component", "x").Handler().(gateway.LineWriter).LineLayout(); ok {
		t.Error("a derived handler takes ready-made lines")
	}
}
