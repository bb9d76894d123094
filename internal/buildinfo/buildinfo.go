// Package buildinfo says what a binary was built from: the module version, the VCS revision and the Go
// version, as the Go toolchain recorded them in the binary (runtime/debug.ReadBuildInfo). The sfgate and
// fakesf commands print it for "version" / "--version"; nothing is set with -ldflags.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what the toolchain recorded about a build.
type Info struct {
	Module    string // main module path, e.g. github.com/sfgate/sfgate
	Version   string // main module version: a tag, a pseudo-version, or "(devel)" when the build had no VCS data
	Revision  string // VCS revision ("" when the build had no VCS data, e.g. -buildvcs=false or no .git)
	Time      string // commit time of Revision, RFC 3339
	Modified  bool   // the working tree had uncommitted changes
	GoVersion string // toolchain that built the binary, e.g. go1.26.8
}

// Read returns the running binary's Info. A binary built without module support reports only GoVersion.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(unknown)", GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from a debug.BuildInfo.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one-line form the commands print, e.g.
// "github.com/sfgate/sfgate v1.2.0 revision 0123abcd… 2026-01-02T03:04:05Z go1.26.8 linux/amd64".
func (i Info) String() string {
	var b strings.Builder
	if i.Module != "" {
		b.WriteString(i.Module + " ")
	}
	b.WriteString(i.Version)
	if i.Revision != "" {
		b.WriteString(" revision " + i.Revision)
		if i.Modified {
			b.WriteString(" (modified)")
		}
	} else {
		b.WriteString(" revision unknown")
	}
	if i.Time != "" {
		b.WriteString(" " + i.Time)
	}
	b.WriteString(" " + i.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH)
	return b.String()
}
