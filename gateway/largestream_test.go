package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// largeStreamsEnv runs TestTwoGiBStreams (it moves 4 GiB through loopback: tens of seconds).
const largeStreamsEnv = "SFGATE_LARGE_STREAMS"

// TestTwoGiBStreams (SFGATE_LARGE_STREAMS=1): a 2 GiB upload and a 2 GiB download through the reverse proxy each
// grow the peak resident memory (VmHWM) of the process by less than 64 MiB. The process holds the gateway, the
// fakesf replica and the client, so the figure bounds the gateway's own growth. It logs the figures
// docs/operations.md quotes (go test -v).
func TestTwoGiBStreams(t *testing.T) {
	if os.Getenv(largeStreamsEnv) != "1" {
		t.Skip("moves 4 GiB: set " + largeStreamsEnv + "=1 to run it")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("skipped, because the peak resident memory is read from /proc/self/status (Linux): ", err)
	}
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	target := streamTargets[1].target
	streamDownload(t, g.addr, target, 1<<20) // connections, pools and buffers in place
	const size, limit = 2 << 30, 64 << 20
	start, before := time.Now(), peakRSS(t)
	rr, sent := streamUpload(t, g.addr, target, size)
	upTime, afterUp := time.Since(start), peakRSS(t)
	if rr.BodyLength != size || rr.BodySHA256 != sent {
		t.Errorf("upload: the replica read %d bytes (sha %s), %d sent (sha %s)", rr.BodyLength, rr.BodySHA256, size, sent)
	}
	start = time.Now()
	n, err := streamDownload(t, g.addr, target, size)
	downTime, afterDown := time.Since(start), peakRSS(t)
	if err != nil || n != size {
		t.Errorf("download: %d of %d bytes: %v", n, size, err)
	}
	t.Logf("2 GiB upload: %.1f s, peak RSS %d → %d MiB (+%d MiB)", upTime.Seconds(), before>>20, afterUp>>20, (afterUp-before)>>20)
	t.Logf("2 GiB download: %.1f s, peak RSS %d → %d MiB (+%d MiB)", downTime.Seconds(), afterUp>>20, afterDown>>20, (afterDown-afterUp)>>20)
	if afterUp-before >= limit || afterDown-afterUp >= limit {
		t.Errorf("the peak resident memory grew by %d MiB (upload) and %d MiB (download); want less than %d MiB each",
			(afterUp-before)>>20, (afterDown-afterUp)>>20, limit>>20)
	}
}

// peakRSS is the process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// patternBuf is fakesf.BodyPattern repeated past 64 KiB: any window of it starting at offset%16 is the pattern
// at that offset.
var patternBuf = []byte(strings.Repeat(fakesf.BodyPattern, 64<<10/len(fakesf.BodyPattern)+1))

// streamUpload PUTs size bytes of fakesf.BodyPattern (Content-Length) to target, written as the gateway takes
// them, and returns the replica's echo and the SHA-256 (hex) of what was sent.
func streamUpload(t *testing.T, addr, target string, size int64) (fakesf.ReplicaResponse, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	sent := make(chan string, 1)
	go func() {
		h := sha256.New()
		w := io.MultiWriter(conn, h)
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", target, size)
		for left := size; left > 0; {
			n := min(left, 64<<10)
			if _, err := w.Write(patternBuf[:n]); err != nil {
				break
			}
			left -= n
		}
		sent <- hex.EncodeToString(h.Sum(nil))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, data)
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(data, &rr); err != nil {
		t.Fatalf("upload: %v: %s", err, data)
	}
	return rr, <-sent
}

// streamDownload GETs target asking the replica for size bytes of fakesf.BodyPattern, and reads and checks
// them as they arrive; it returns how many arrived, and an error at the first wrong byte.
func streamDownload(t *testing.T, addr, target string, size int64) (int64, error) {
	t.Helper()
	resp, _ := openStream(t, addr, target, fmt.Sprintf("%s: %d\r\n", fakesf.HeaderBodyBytes, size))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("download: %d %s", resp.StatusCode, data)
	}
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		if off := int(got % int64(len(fakesf.BodyPattern))); !bytes.Equal(buf[:n], patternBuf[off:off+n]) {
			return got, fmt.Errorf("the body differs from the pattern within bytes %d..%d", got, got+int64(n))
		}
		got += int64(n)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}
