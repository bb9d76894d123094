package gateway

import (
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// LineWriter is an optional interface of the handler of Options.Logger. A handler that writes log/slog's text or
// JSON layout (time, level and msg, then the attributes; durations as seconds, a float) and implements it lets
// the gateway write each request's log line itself, straight into a pooled buffer, byte for byte as the handler
// would: slog's generic attribute machinery cost more CPU than all the rest of the gateway's own work per request,
// and six allocations. Other handlers get the line through slog.
type LineWriter interface {
	// LineLayout reports the layout the handler writes now: JSON or text. ok is false when the handler cannot
	// take ready-made lines (say, it carries attributes or groups of its own); then the line goes through slog.
	LineLayout() (json, ok bool)
	// WriteLine writes one whole line, ending in '\n', as the handler's own lines are written.
	WriteLine(line []byte) error
}

// requestLine is what a request's log line says, in its order (logRequest).
type requestLine struct {
	level                   slog.Level
	client, proxy           []byte // proxy: empty when the client's address is the peer's
	method, path            []byte
	status                  int
	duration                time.Duration
	api, operation, backend string
	hasAPI, hasBackend      bool
	partition               string
	replica                 []byte
	attempts, reresolutions int
	requestID               []byte
	code, detail            string
	failed                  bool
	secrets                 *strings.Replacer // masks the configuration's secrets in every string (redact.go)
	clock                   *clockText        // the request state's cache of the time's text
	timestamp               time.Time
}

// appendAttrs appends the line's attributes for slog (a handler that is no LineWriter), in the line's order.
func (l *requestLine) appendAttrs(attrs []slog.Attr) []slog.Attr {
	attrs = append(attrs, slog.String("client", string(l.client)))
	if len(l.proxy) > 0 {
		attrs = append(attrs, slog.String("proxy", string(l.proxy)))
	}
	attrs = append(attrs,
		slog.String("method", string(l.method)),
		slog.String("path", string(l.path)),
		slog.Int("status", l.status),
		slog.Duration("duration", l.duration),
	)
	if l.hasAPI {
		attrs = append(attrs, slog.String("api", l.api), slog.String("operation", l.operation))
	}
	if l.hasBackend {
		attrs = append(attrs, slog.String("backend", l.backend))
	}
	if l.partition != "" {
		attrs = append(attrs, slog.String("partition", l.partition))
	}
	if len(l.replica) > 0 {
		attrs = append(attrs, slog.String("replica", string(l.replica)))
	}
	attrs = append(attrs, slog.Int("attempts", l.attempts))
	if l.reresolutions > 0 {
		attrs = append(attrs, slog.Int("reresolutions", l.reresolutions))
	}
	attrs = append(attrs, slog.String("requestId", string(l.requestID)))
	if l.failed {
		attrs = append(attrs, slog.String("code", l.code), slog.String("error", l.detail))
	}
	return attrs
}

// appendLine appends the line in slog's JSON or text layout, as its handlers write a record with these
// attributes (and the redacting handler's masking) through durationsInSeconds.
func (l *requestLine) appendLine(b []byte, json bool) []byte {
	w := lineWriter{b: b, json: json, r: l.secrets}
	if json {
		w.b = append(w.b, '{')
	}
	w.key("time")
	t := l.timestamp.Round(0)
	if json {
		w.b = append(w.b, '"')
		w.b = l.clock.appendTime(w.b, t, true)
		w.b = append(w.b, '"')
	} else {
		w.b = l.clock.appendTime(w.b, t, false)
	}
	w.key("level")
	w.value(l.level.String(), false)
	w.key("msg")
	w.value("request", true)
	w.str("client", l.client)
	if len(l.proxy) > 0 {
		w.str("proxy", l.proxy)
	}
	w.str("method", l.method)
	w.str("path", l.path)
	w.int("status", l.status)
	w.key("duration")
	w.seconds(l.duration.Seconds())
	if l.hasAPI {
		w.sstr("api", l.api)
		w.sstr("operation", l.operation)
	}
	if l.hasBackend {
		w.sstr("backend", l.backend)
	}
	if l.partition != "" {
		w.sstr("partition", l.partition)
	}
	if len(l.replica) > 0 {
		w.str("replica", l.replica)
	}
	w.int("attempts", l.attempts)
	if l.reresolutions > 0 {
		w.int("reresolutions", l.reresolutions)
	}
	w.str("requestId", l.requestID)
	if l.failed {
		w.sstr("code", l.code)
		w.sstr("error", l.detail)
	}
	if json {
		w.b = append(w.b, '}')
	}
	return append(w.b, '\n')
}

// lineWriter appends one line's keys and values.
type lineWriter struct {
	b    []byte
	json bool
	r    *strings.Replacer
	n    int // keys written
}

func (w *lineWriter) key(k string) {
	if w.n > 0 {
		if w.json {
			w.b = append(w.b, ',')
		} else {
			w.b = append(w.b, ' ')
		}
	}
	w.n++
	if w.json {
		w.b = append(append(append(w.b, '"'), k...), `":`...)
	} else {
		w.b = append(append(w.b, k...), '=')
	}
}

func (w *lineWriter) str(k string, v []byte) {
	w.key(k)
	if w.r != nil {
		w.value(w.r.Replace(string(v)), false)
		return
	}
	w.b = appendLogString(w.b, v, w.json)
}

func (w *lineWriter) sstr(k, v string) {
	w.key(k)
	w.value(v, true)
}

// value appends a string value; masked: through the secrets replacer (if any).
func (w *lineWriter) value(v string, masked bool) {
	if masked && w.r != nil {
		v = w.r.Replace(v)
	}
	w.b = appendLogString(w.b, v, w.json)
}

func (w *lineWriter) int(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}

// seconds appends a float as slog writes a Float64 value: strconv's shortest 'g' form in text, encoding/json's
// form in JSON.
func (w *lineWriter) seconds(f float64) {
	if !w.json {
		w.b = strconv.AppendFloat(w.b, f, 'g', -1, 64)
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' { // encoding/json: e-09 becomes e-9
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

// clockText keeps the RFC 3339 text of one second ("2006-01-02T15:04:05" and the zone), so that the lines of the
// same second format only their fraction: slog's layouts of a time differ only there (text: exactly three digits of
// milliseconds, JSON: RFC3339Nano's nine digits without trailing zeros).
type clockText struct {
	sec  int64
	loc  *time.Location
	n    int // length of text; 0: nothing kept
	text [48]byte
}

const secondsLen = len("2006-01-02T15:04:05")

// appendTime appends t as slog's JSON (RFC3339Nano) or text (appendRFC3339Millis) layout writes it.
func (c *clockText) appendTime(b []byte, t time.Time, json bool) []byte {
	if sec := t.Unix(); c.n == 0 || sec != c.sec || t.Location() != c.loc {
		text := t.Truncate(time.Second).AppendFormat(c.text[:0], "2006-01-02T15:04:05Z07:00")
		if y := t.Year(); y < 0 || y > 9999 || len(text) > len(c.text) {
			c.n = 0
			return appendTimeSlow(b, t, json)
		}
		c.sec, c.loc, c.n = sec, t.Location(), len(text)
	}
	b = append(b, c.text[:secondsLen]...)
	ns := t.Nanosecond()
	if json {
		if ns != 0 {
			digits := 9
			for ns%10 == 0 {
				ns /= 10
				digits--
			}
			b = appendDigits(append(b, '.'), ns, digits)
		}
	} else {
		b = appendDigits(append(b, '.'), ns/1e6, 3)
	}
	return append(b, c.text[secondsLen:c.n]...)
}

// appendDigits appends v with exactly n decimal digits (leading zeros).
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

func appendTimeSlow(b []byte, t time.Time, json bool) []byte {
	if json {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	return appendRFC3339Millis(b, t)
}

// appendRFC3339Millis is slog's text layout of a time: RFC 3339 with exactly three digits of milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the fourth digit
}

// appendLogString appends a string value as slog's JSON handler (quoted and escaped) or text handler (bare, or
// Go-quoted when it needs quoting) writes it.
func appendLogString[S string | []byte](b []byte, s S, json bool) []byte {
	if json {
		b = append(b, '"')
		b = appendEscapedJSON(b, s)
		return append(b, '"')
	}
	if needsQuoting(s) {
		return strconv.AppendQuote(b, string(s))
	}
	return append(b, s...)
}

// plainText: the ASCII bytes slog's text handler writes unquoted: all that JSON holds unescaped, and '\\', but
// not ' ' and '='. Others (and every byte of a multi-byte character) are false.
var plainText = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c == '\\' || jsonSafe(byte(c)) && c != ' ' && c != '='
	}
	return t
}()

// jsonSafe: the ASCII bytes a JSON string holds unescaped (slog's safeSet): all but the control characters, '"'
// and '\\'.
func jsonSafe(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

// decodeRune decodes the rune at s[i:] (at most four bytes are converted, without allocating).
func decodeRune[S string | []byte](s S, i int) (rune, int) {
	var p [utf8.UTFMax]byte
	n := copy(p[:], s[i:])
	return utf8.DecodeRune(p[:n])
}

// needsQuoting is slog's text handler's rule: empty, a space, '=', a character JSON escapes (but a lone
// backslash), invalid UTF-8, or a Unicode space or non-printing character.
func needsQuoting[S string | []byte](s S) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		for i < len(s) && plainText[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if s[i] < utf8.RuneSelf {
			return true
		}
		r, size := decodeRune(s, i)
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendEscapedJSON is slog's JSON string escaping: control characters, '"' and '\\' escaped, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped.
func appendEscapedJSON[S string | []byte](b []byte, s S) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, '\\')
			switch c {
			case '\\', '"':
				b = append(b, c)
			case '\n':
				b = append(b, 'n')
			case '\r':
				b = append(b, 'r')
			case '\t':
				b = append(b, 't')
			default:
				b = append(b, 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s, i)
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
