package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
