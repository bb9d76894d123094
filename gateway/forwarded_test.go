package gateway

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/gateway/config"
)

// ipPolicy shows context.Request.IpAddress to the echo backend.
const ipPolicy = `
    policies: |
      <policies><inbound><base />
        <set-header name="X-Client-Ip" exists-action="override"><value>@(context.Request.IpAddress)</value></set-header>
      </inbound></policies>
`

// From a trusted proxy, X-Forwarded-For is kept and the proxy appended, X-Forwarded-Proto and -Host are kept,
// and context.Request.IpAddress is the rightmost address that is not a trusted proxy (so an address a client
// wrote to the left of the real ones is ignored). From an untrusted peer all three headers say only what the
// gateway saw, and IpAddress is the peer.
func TestTrustedProxies(t *testing.T) {
	be := startEcho(t, nil)
	api := fmt.Sprintf("apis:\n  - name: a\n    path: a\n    serviceUrl: http://%s/\n"+ipPolicy, be)
	trusted := startGateway(t, "trustedProxies: [127.0.0.1/32, 10.0.0.0/8]\n"+api, nil) // the tests dial from 127.0.0.1
	untrusted := startGateway(t, "trustedProxies: [10.0.0.0/8]\n"+api, nil)

	for _, c := range []struct {
		name                   string
		g                      *testGateway
		xff, proto, host       string // sent ("" = not sent)
		wantXFF, wantIP        string
		wantProto, wantFwdHost string
	}{
		{"trusted, one proxy hop", trusted, "203.0.113.7, 10.1.2.3", "https", "public.example",
			"203.0.113.7, 10.1.2.3, 127.0.0.1", "203.0.113.7", "https", "public.example"},
		{"trusted, spoofed entry left of the client", trusted, "198.51.100.9, 203.0.113.7, 10.1.2.3", "", "",
			"198.51.100.9, 203.0.113.7, 10.1.2.3, 127.0.0.1", "203.0.113.7", "http", "gateway.example"},
		{"trusted, entry with a port", trusted, "203.0.113.7:41234", "", "",
			"203.0.113.7:41234, 127.0.0.1", "203.0.113.7", "http", "gateway.example"},
		{"trusted, garbage stops the walk", trusted, "not-an-ip, 10.1.2.3", "", "",
			"not-an-ip, 10.1.2.3, 127.0.0.1", "10.1.2.3", "http", "gateway.example"},
		{"trusted, all trusted", trusted, "10.9.9.9, 10.1.2.3", "", "",
			"10.9.9.9, 10.1.2.3, 127.0.0.1", "10.9.9.9", "http", "gateway.example"},
		{"trusted, no header", trusted, "", "", "", "127.0.0.1", "127.0.0.1", "http", "gateway.example"},
		{"untrusted peer", untrusted, "203.0.113.7", "https", "evil.example",
			"127.0.0.1", "127.0.0.1", "http", "gateway.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Host": "gateway.example"}
			for k, v := range map[string]string{"X-Forwarded-For": c.xff, "X-Forwarded-Proto": c.proto, "X-Forwarded-Host": c.host} {
				if v != "" {
					h[k] = v
				}
			}
			e := decodeEcho(t, do(t, c.g.addr, "GET", "/a/x", h, ""))
			for name, want := range map[string]string{"X-Forwarded-For": c.wantXFF, "X-Client-Ip": c.wantIP,
				"X-Forwarded-Proto": c.wantProto, "X-Forwarded-Host": c.wantFwdHost} {
				if got := strings.Join(e.Header[name], " | "); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestClientAddressWalk(t *testing.T) {
	var tp trustedProxies
	for _, s := range []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"} {
		p, err := config.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		tp = append(tp, p)
	}
	peer := netip.MustParseAddr("10.0.0.1")
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{nil, "10.0.0.1"},
		{[]string{""}, "10.0.0.1"},
		{[]string{"203.0.113.7"}, "203.0.113.7"},
		{[]string{"203.0.113.7", "10.2.2.2, 192.0.2.1"}, "203.0.113.7"},
		{[]string{"1.1.1.1, 203.0.113.7 ,10.2.2.2"}, "203.0.113.7"},
		{[]string{"2001:db8::1, fd00::5"}, "2001:db8::1"},
		{[]string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{[]string{"[2001:db8::2]"}, "2001:db8::2"},
		{[]string{"::ffff:203.0.113.8"}, "203.0.113.8"},
		{[]string{"fe80::1%eth0, 10.3.3.3"}, "10.3.3.3"},
		{[]string{"unknown"}, "10.0.0.1"},
		{[]string{"10.4.4.4,,"}, "10.4.4.4"},
	} {
		var lines [][]byte
		for _, l := range c.lines {
			lines = append(lines, []byte(l))
		}
		if got := tp.clientAddress(peer, lines).String(); got != c.want {
			t.Errorf("X-Forwarded-For %q: client %s, want %s", c.lines, got, c.want)
		}
	}
}

// Whatever X-Forwarded-For holds, the client address is the peer or an address written in it, and parsing
// never panics.
func FuzzClientAddress(f *testing.F) {
	for _, s := range []string{"203.0.113.7, 10.1.2.3", "[2001:db8::1]:443", "fe80::1%eth0", "::ffff:1.2.3.4", ",,", "1.2.3.4:99999", "[::1"} {
		f.Add(s)
	}
	tp := trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, header string) {
		got := tp.clientAddress(peer, [][]byte{[]byte(header)})
		if got == peer {
			return
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("client %v from %q", got, header)
		}
		found := false
		for _, e := range strings.Split(header, ",") {
			if a, ok := parseForwardedAddr([]byte(strings.TrimSpace(e))); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %v is not written in %q", got, header)
		}
	})
}
