package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
)

// The reload warning names only the settings a reload does not apply: limits a reload applies are not among
// them (they used to make the whole limits: block "take effect after a restart").
func TestRestartOnlyNamesWhatAReloadLeaves(t *testing.T) {
	start := &config.Config{Listen: ":8080", Limits: config.Limits{MaxBodyBytes: 1, RequestTimeout: time.Second, ReadTimeout: time.Second}}
	reloadable := &config.Config{Listen: ":8080", Limits: config.Limits{MaxBodyBytes: 2, RequestTimeout: 2 * time.Second, ReadTimeout: time.Second}}
	if got := restartOnly(start, reloadable); len(got) != 0 {
		t.Errorf("maxBodyBytes and requestTimeout changed: %v, want nothing to restart for", got)
	}
	next := &config.Config{Listen: ":9090", Limits: config.Limits{MaxBodyBytes: 2, ReadTimeout: 2 * time.Second}}
	if got := strings.Join(restartOnly(start, next), ", "); got != "listen, limits.readTimeout" {
		t.Errorf("restartOnly = %q, want listen, limits.readTimeout", got)
	}
}
