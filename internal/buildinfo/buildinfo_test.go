package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfoWithVCS(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/sfgate/sfgate", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := FromBuildInfo(bi).String()
	want := "github.com/sfgate/sfgate v1.2.0 revision 0123456789abcdef0123456789abcdef01234567 (modified) 2026-01-02T03:04:05Z go1.26.8 " +
		runtime.GOOS + "/" + runtime.GOARCH
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestFromBuildInfoWithoutVCS(t *testing.T) {
	got := FromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sfgate/sfgate"}}).String()
	if !strings.HasPrefix(got, "github.com/sfgate/sfgate (devel) revision unknown go1.26.8 ") {
		t.Errorf("got %q", got)
	}
}

// The test binary itself carries build info: Read reports the toolchain that built it.
func TestReadReportsThisToolchain(t *testing.T) {
	if got := Read(); got.GoVersion != runtime.Version() {
		t.Errorf("GoVersion %q, want %q", got.GoVersion, runtime.Version())
	}
}
