package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileSfgate captures a CPU profile of sfgate while wrk -c64 loads it (unpinned layout): through the admin
// listener's /debug/pprof when the gateway serves it, otherwise with Linux perf.
func (h *harness) profileSfgate(ctx context.Context) *table {
	t := &table{Title: "Where sfgate spends its CPU under load (wrk -c64 to the fakesf replica, unpinned)"}
	if h.sfgateErr != nil {
		t.note("skipped: %v", h.sfgateErr)
		return t
	}
	fsf, err := startFakesfProc(ctx, "")
	if err != nil {
		t.note("skipped: %v", err)
		return t
	}
	defer fsf.stop()
	g, err := startSfgate(ctx, h.sfgateBin, h.dir, fsf.url, "", 0, "")
	if err != nil {
		t.note("skipped: %v", err)
		return t
	}
	defer g.stop()
	secs := max(1, int(h.opts.profile/time.Second))
	w := wrkRun{URL: g.url(benchKey), Threads: 2, Conns: 64, Duration: time.Duration(secs+2) * time.Second}
	t.Commands = append(t.Commands, shellJoin(w.command())+"   # load while profiling")
	load := make(chan error, 1)
	go func() {
		_, err := w.run(ctx)
		load <- err
	}()
	sleepCtx(ctx, time.Second) // let the load reach its steady state before sampling

	if resp, err := http.Get("http://" + g.admin + "/debug/pprof/"); err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		if err := h.pprofTop(ctx, g, secs, t); err != nil {
			t.note("pprof: %v", err)
		}
	} else {
		if resp != nil {
			resp.Body.Close()
		}
		if err := h.perfTop(ctx, g, secs, t); err != nil {
			t.note("perf: %v", err)
		}
	}
	if err := <-load; err != nil {
		t.note("load: %v", err)
	}
	return t
}

// pprofTop reads the gateway's Go CPU profile and prints `go tool pprof -top`.
func (h *harness) pprofTop(ctx context.Context, g *sfgateProc, secs int, t *table) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.admin, secs)
	t.Commands = append(t.Commands, fmt.Sprintf("go tool pprof -top -nodecount 15 %s %s", filepath.Base(h.sfgateBin), url))
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount", "15", h.sfgateBin, url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %.1000s", err, out)
	}
	t.note("Go CPU profile from sfgate's admin /debug/pprof (%d s). pprof header: %s", secs, pprofHeader(out))
	t.Header = []string{"#", "flat %", "cum %", "function"}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "     flat  flat%   sum%        cum   cum%"  then rows: 1.20s 12.00% 12.00% 1.50s 15.00% runtime.futex
		f := strings.Fields(sc.Text())
		if len(f) >= 6 && strings.HasSuffix(f[1], "%") && strings.HasSuffix(f[4], "%") {
			t.add(strconv.Itoa(len(t.Rows)+1), f[1], f[4], "`"+strings.Join(f[5:], " ")+"`")
		}
	}
	return nil
}

func pprofHeader(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Showing nodes") || strings.HasPrefix(l, "Duration:") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// perfLine is one symbol of `perf report --stdio`: its percentages and whether it is a kernel symbol.
type perfLine struct {
	Children, Self float64 // Children is 0 in a --no-children report
	Kernel         bool
	Symbol         string
}

// parsePerfReport reads the symbol lines of `perf report --stdio -g none --sort symbol`, with or without
// --children ("  12.34%  [.] sym" or "  45.00%  0.50%  [k] sym"); comment and blank lines are skipped.
func parsePerfReport(out []byte) []perfLine {
	var lines []perfLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var pcts []float64
		for len(f) > 0 && strings.HasSuffix(f[0], "%") && len(pcts) < 2 {
			v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
			if err != nil || v < 0 || v > 100 {
				break
			}
			pcts, f = append(pcts, v), f[1:]
		}
		if len(pcts) == 0 || len(f) < 2 || (f[0] != "[k]" && f[0] != "[.]") {
			continue
		}
		sym := f[1:]
		for len(sym) > 1 && sym[len(sym)-1] == "-" { // the IPC columns perf prints without LBR data
			sym = sym[:len(sym)-1]
		}
		l := perfLine{Self: pcts[len(pcts)-1], Kernel: f[0] == "[k]", Symbol: strings.Join(sym, " ")}
		if len(pcts) == 2 {
			l.Children = pcts[0]
		}
		lines = append(lines, l)
	}
	return lines
}

// perfTop samples the gateway process with Linux perf (the gateway serves no pprof endpoint) and fills t with
// the top symbols by self time (all, and user space only) and sfgate's own functions by inclusive time.
func (h *harness) perfTop(ctx context.Context, g *sfgateProc, secs int, t *table) error {
	if _, err := lookTool("perf", "apt-get install linux-perf"); err != nil {
		return err
	}
	data := filepath.Join(h.dir, "perf.data")
	rec := []string{"perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", strconv.Itoa(g.pid()), "-o", data, "--", "sleep", strconv.Itoa(secs)}
	self := []string{"perf", "report", "-i", data, "--stdio", "-g", "none", "--no-children", "--sort", "symbol"}
	incl := []string{"perf", "report", "-i", data, "--stdio", "-g", "none", "--children", "--sort", "symbol"}
	t.Commands = append(t.Commands, shellJoin(rec), shellJoin(self), shellJoin(incl))
	if out, err := exec.CommandContext(ctx, rec[0], rec[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %.1000s", err, out)
	}
	selfOut, err := exec.CommandContext(ctx, self[0], self[1:]...).Output()
	if err != nil {
		return fmt.Errorf("%s: %w", shellJoin(self), err)
	}
	inclOut, err := exec.CommandContext(ctx, incl[0], incl[1:]...).Output()
	if err != nil {
		return fmt.Errorf("%s: %w", shellJoin(incl), err)
	}
	var kernel, user float64
	var all, userOnly, own []perfLine
	for _, l := range parsePerfReport(selfOut) {
		if l.Kernel {
			kernel += l.Self
		} else {
			user += l.Self
			if len(userOnly) < 15 {
				userOnly = append(userOnly, l)
			}
		}
		if len(all) < 15 {
			all = append(all, l)
		}
	}
	for _, l := range parsePerfReport(inclOut) {
		if strings.HasPrefix(l.Symbol, "github.com/sfgate/sfgate/") && len(own) < 15 {
			own = append(own, l)
		}
	}
	t.note("sfgate serves no /debug/pprof on its admin listener, so this is a Linux `perf` sample of the process (%d s, cpu-clock at "+
		"999 Hz, frame-pointer call graphs). Kernel ([k]) %.0f %% of samples, user space (Go runtime, fasthttp, sfgate) %.0f %%. "+
		"Columns: top symbols by self time (all; user space only), and sfgate's own functions by inclusive time (children included).",
		secs, kernel, user)
	t.Header = []string{"#", "self %", "symbol (all)", "self %", "symbol (user space)", "incl. %", "sfgate function"}
	for i := range max(len(all), len(userOnly), len(own)) {
		row := make([]string, 7)
		row[0] = strconv.Itoa(i + 1)
		if i < len(all) {
			kind := "[.] "
			if all[i].Kernel {
				kind = "[k] "
			}
			row[1], row[2] = fmt.Sprintf("%.2f", all[i].Self), "`"+kind+all[i].Symbol+"`"
		}
		if i < len(userOnly) {
			row[3], row[4] = fmt.Sprintf("%.2f", userOnly[i].Self), "`"+userOnly[i].Symbol+"`"
		}
		if i < len(own) {
			row[5], row[6] = fmt.Sprintf("%.2f", own[i].Children), "`"+strings.TrimPrefix(own[i].Symbol, "github.com/sfgate/sfgate/")+"`"
		}
		t.add(row...)
	}
	return nil
}
