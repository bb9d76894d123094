package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sfgate/sfgate/gateway/config"
)

// logSettings are the parts of the log output a configuration's log: section chooses (level and format);
// SIGHUP applies them to the running process through setLog.
type logSettings struct {
	level slog.LevelVar
	json  atomic.Bool
}

// newLogger returns the process's logger on w with the settings of l, and the settings to change later.
func newLogger(l config.Log, w io.Writer) (*slog.Logger, *logSettings) {
	s := &logSettings{}
	s.apply(l)
	opts := &slog.HandlerOptions{Level: &s.level, ReplaceAttr: durationsInSeconds}
	lw := &lockedWriter{w: w}
	return slog.New(switchHandler{s: s, text: slog.NewTextHandler(lw, opts), json: slog.NewJSONHandler(lw, opts), lines: lw}), s
}

// lockedWriter serialises the lines both slog handlers and the gateway's ready-made request lines write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// apply sets the level and format of l (validated by package config: unknown values mean the default).
func (s *logSettings) apply(l config.Log) {
	level := slog.LevelInfo
	level.UnmarshalText([]byte(l.Level)) // slog reads debug, info, warn and error in any case; "" keeps info
	s.level.Set(level)
	s.json.Store(strings.EqualFold(l.Format, "json"))
}

// format names the current format: text or json.
func (s *logSettings) format() string {
	if s.json.Load() {
		return "json"
	}
	return "text"
}

// durationsInSeconds writes time.Duration values as seconds (a float), in both formats, so that log
// pipelines read one unit.
func durationsInSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}

// switchHandler writes through the text or the JSON handler, whichever the settings name at the time of
// each record. Both share the level; loggers derived with With carry their attributes in both.
type switchHandler struct {
	s          *logSettings
	text, json slog.Handler
	lines      *lockedWriter // nil in a handler derived with WithAttrs or WithGroup (its lines carry more)
}

// LineLayout and WriteLine let the gateway write its request lines ready-made (gateway.LineWriter): the
// handlers' layouts are slog's text and JSON with durations as seconds, as the gateway's lines are.
func (h switchHandler) LineLayout() (json, ok bool) { return h.s.json.Load(), h.lines != nil }

func (h switchHandler) WriteLine(line []byte) error {
	_, err := h.lines.Write(line)
	return err
}

func (h switchHandler) current() slog.Handler {
	if h.s.json.Load() {
		return h.json
	}
	return h.text
}

func (h switchHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.current().Enabled(ctx, level)
}

func (h switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.current().Handle(ctx, r)
}

func (h switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return switchHandler{s: h.s, text: h.text.WithAttrs(attrs), json: h.json.WithAttrs(attrs)}
}

func (h switchHandler) WithGroup(name string) slog.Handler {
	return switchHandler{s: h.s, text: h.text.WithGroup(name), json: h.json.WithGroup(name)}
}
