package expr

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt    // integer literal; num, isLong
	tString // string literal; str
	tChar   // char literal; num
	tInterp // interpolated string; parts
	tOp     // punctuation/operator; text
)

// token is one lexical token of the expression source.
type token struct {
	kind   tokKind
	pos    int    // byte offset in the source
	end    int    // offset after the token
	text   string // identifier or operator text
	str    string // decoded string literal
	num    int64
	isLong bool
	parts  []interpPart
}

// interpPart is a piece of a $"..." string: literal text, or a hole holding an expression
// (its source offset is pos).
type interpPart struct {
	lit  string
	hole string
	pos  int
}

// maxSourceLen bounds the size of one expression.
const maxSourceLen = 64 << 10

type lexer struct {
	src  string
	pos  int
	toks []token
}

type lexError struct {
	pos int
	msg string
}

func (e *lexError) Error() string { return e.msg }

// ops lists multi-character operators first so the longest match wins.
var ops = []string{"??", "?.", "==", "!=", "<=", ">=", "&&", "||", "=>", "++", "--",
	"(", ")", "{", "}", "[", "]", ".", ",", ";", "?", ":", "<", ">", "!", "+", "-", "*", "/", "%", "=", "&", "|", "^", "~"}

func lex(src string, start, end int) ([]token, error) {
	lx := &lexer{src: src[:end], pos: start}
	for {
		if err := lx.skipSpace(); err != nil {
			return nil, err
		}
		if lx.pos >= len(lx.src) {
			lx.toks = append(lx.toks, token{kind: tEOF, pos: lx.pos, end: lx.pos})
			return lx.toks, nil
		}
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		lx.toks = append(lx.toks, t)
	}
}

func (lx *lexer) skipSpace() error {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			lx.pos++
		case strings.HasPrefix(lx.src[lx.pos:], "//"):
			i := strings.IndexByte(lx.src[lx.pos:], '\n')
			if i < 0 {
				lx.pos = len(lx.src)
			} else {
				lx.pos += i + 1
			}
		case strings.HasPrefix(lx.src[lx.pos:], "/*"):
			i := strings.Index(lx.src[lx.pos+2:], "*/")
			if i < 0 {
				return &lexError{lx.pos, "comment is not closed (missing \"*/\")"}
			}
			lx.pos += i + 4
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (lx *lexer) next() (token, error) {
	start := lx.pos
	c := lx.src[lx.pos]
	switch {
	case isIdentStart(c):
		for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
			lx.pos++
		}
		return token{kind: tIdent, pos: start, end: lx.pos, text: lx.src[start:lx.pos]}, nil
	case c >= '0' && c <= '9':
		return lx.number()
	case c == '"':
		s, err := lx.quoted(false)
		return token{kind: tString, pos: start, end: lx.pos, str: s}, err
	case c == '@' && strings.HasPrefix(lx.src[lx.pos:], "@\""):
		lx.pos++
		s, err := lx.quoted(true)
		return token{kind: tString, pos: start, end: lx.pos, str: s}, err
	case c == '$':
		verbatim := false
		switch {
		case strings.HasPrefix(lx.src[lx.pos:], "$\""):
			lx.pos++
		case strings.HasPrefix(lx.src[lx.pos:], "$@\""), strings.HasPrefix(lx.src[lx.pos:], "@$\""):
			lx.pos += 2
			verbatim = true
		default:
			return token{}, &lexError{start, "unexpected \"$\" (interpolated strings start with $\")"}
		}
		parts, err := lx.interpolated(verbatim)
		return token{kind: tInterp, pos: start, end: lx.pos, parts: parts}, err
	case c == '\'':
		return lx.char()
	}
	for _, op := range ops {
		if strings.HasPrefix(lx.src[lx.pos:], op) {
			lx.pos += len(op)
			return token{kind: tOp, pos: start, end: lx.pos, text: op}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
	return token{}, &lexError{start, "unexpected character " + strconv.QuoteRune(r)}
}

func (lx *lexer) number() (token, error) {
	start := lx.pos
	base := 10
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' || c == '_' }
	if strings.HasPrefix(lx.src[lx.pos:], "0x") || strings.HasPrefix(lx.src[lx.pos:], "0X") {
		base = 16
		lx.pos += 2
		isDigit = func(c byte) bool {
			return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '_'
		}
	}
	first := lx.pos
	for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
		lx.pos++
	}
	digits := strings.ReplaceAll(lx.src[first:lx.pos], "_", "") // C# 7 digit separators
	if digits == "" || lx.src[lx.pos-1] == '_' {
		return token{}, &lexError{start, "malformed number " + strconv.Quote(lx.src[start:lx.pos])}
	}
	isLong := false
	if lx.pos < len(lx.src) && (lx.src[lx.pos] == 'L' || lx.src[lx.pos] == 'l') {
		isLong = true
		lx.pos++
	}
	if lx.pos < len(lx.src) && (isIdentPart(lx.src[lx.pos]) || lx.src[lx.pos] == '.') {
		if lx.src[lx.pos] == '.' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] >= '0' && lx.src[lx.pos+1] <= '9' {
			return token{}, &lexError{start, "floating-point numbers are not supported by sfgate (int and long only)"}
		}
		if lx.src[lx.pos] != '.' {
			return token{}, &lexError{start, "malformed number " + strconv.Quote(lx.src[start:lx.pos+1])}
		}
	}
	u, err := strconv.ParseUint(digits, base, 64)
	if err != nil || u > 1<<63-1 {
		return token{}, &lexError{start, "number " + lx.src[start:lx.pos] + " is out of range for long"}
	}
	n := int64(u)
	switch {
	case base == 16 && !isLong && u <= 1<<32-1:
		if u > 1<<31-1 {
			return token{}, &lexError{start, "hex literal " + lx.src[start:lx.pos] + " is a uint, which sfgate does not support (add L for a long)"}
		}
	case !isLong && u > 1<<31-1:
		isLong = true // C#: an integer literal that does not fit int is a long
	}
	return token{kind: tInt, pos: start, end: lx.pos, num: n, isLong: isLong}, nil
}

// quoted reads a "..." literal starting at the quote; verbatim literals double their quotes.
func (lx *lexer) quoted(verbatim bool) (string, error) {
	start := lx.pos
	lx.pos++ // opening quote
	var b strings.Builder
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '"' && verbatim && strings.HasPrefix(lx.src[lx.pos:], "\"\""):
			b.WriteByte('"')
			lx.pos += 2
		case c == '"':
			lx.pos++
			return b.String(), nil
		case c == '\\' && !verbatim:
			r, err := lx.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c == '\n' && !verbatim:
			return "", &lexError{start, "string literal is not closed before the end of the line"}
		default:
			b.WriteByte(c)
			lx.pos++
		}
	}
	return "", &lexError{start, "string literal is not closed (missing '\"')"}
}

// escape decodes one backslash escape at lx.pos.
func (lx *lexer) escape() (rune, error) {
	start := lx.pos
	if lx.pos+1 >= len(lx.src) {
		return 0, &lexError{start, "incomplete escape sequence"}
	}
	c := lx.src[lx.pos+1]
	lx.pos += 2
	switch c {
	case '\\':
		return '\\', nil
	case '"':
		return '"', nil
	case '\'':
		return '\'', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case '0':
		return 0, nil
	case 'a':
		return 7, nil
	case 'b':
		return 8, nil
	case 'f':
		return 12, nil
	case 'v':
		return 11, nil
	case 'u':
		if lx.pos+4 > len(lx.src) {
			return 0, &lexError{start, "incomplete \\u escape"}
		}
		n, err := strconv.ParseUint(lx.src[lx.pos:lx.pos+4], 16, 32)
		if err != nil {
			return 0, &lexError{start, "bad \\u escape"}
		}
		lx.pos += 4
		return rune(n), nil
	}
	return 0, &lexError{start, "unknown escape sequence \\" + string(c)}
}

func (lx *lexer) char() (token, error) {
	start := lx.pos
	lx.pos++
	if lx.pos >= len(lx.src) {
		return token{}, &lexError{start, "char literal is not closed"}
	}
	var r rune
	if lx.src[lx.pos] == '\\' {
		var err error
		if r, err = lx.escape(); err != nil {
			return token{}, err
		}
	} else {
		var n int
		r, n = utf8.DecodeRuneInString(lx.src[lx.pos:])
		lx.pos += n
	}
	if lx.pos >= len(lx.src) || lx.src[lx.pos] != '\'' {
		return token{}, &lexError{start, "char literal is not closed (missing \"'\")"}
	}
	lx.pos++
	return token{kind: tChar, pos: start, end: lx.pos, num: int64(r)}, nil
}

// interpolated reads the body of $"..." (lx.pos at the opening quote).
func (lx *lexer) interpolated(verbatim bool) ([]interpPart, error) {
	start := lx.pos
	lx.pos++
	var parts []interpPart
	var lit strings.Builder
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '"' && verbatim && strings.HasPrefix(lx.src[lx.pos:], "\"\""):
			lit.WriteByte('"')
			lx.pos += 2
		case c == '"':
			lx.pos++
			if lit.Len() > 0 {
				parts = append(parts, interpPart{lit: lit.String()})
			}
			return parts, nil
		case c == '\\' && !verbatim:
			r, err := lx.escape()
			if err != nil {
				return nil, err
			}
			lit.WriteRune(r)
		case strings.HasPrefix(lx.src[lx.pos:], "{{"), strings.HasPrefix(lx.src[lx.pos:], "}}"):
			lit.WriteByte(c)
			lx.pos += 2
		case c == '}':
			return nil, &lexError{lx.pos, "unexpected \"}\" in interpolated string (write \"}}\" for a brace)"}
		case c == '{':
			if lit.Len() > 0 {
				parts = append(parts, interpPart{lit: lit.String()})
				lit.Reset()
			}
			holeStart := lx.pos + 1
			end, err := scanBalanced(lx.src, holeStart, '}')
			if err != nil {
				return nil, err
			}
			hole := lx.src[holeStart:end]
			if strings.TrimSpace(hole) == "" {
				return nil, &lexError{lx.pos, "empty hole {} in interpolated string"}
			}
			parts = append(parts, interpPart{hole: hole, pos: holeStart})
			lx.pos = end + 1
		default:
			lit.WriteByte(c)
			lx.pos++
		}
	}
	return nil, &lexError{start, "interpolated string is not closed (missing '\"')"}
}

// scanBalanced finds the offset of the closing byte that balances an already opened bracket,
// skipping strings, chars and nested brackets (package policy's pre-pass does the same on raw,
// entity-escaped text).
func scanBalanced(s string, pos int, closer byte) (int, error) {
	var stack []byte
	stack = append(stack, closer)
	for pos < len(s) {
		c := s[pos]
		switch c {
		case '"':
			end, err := skipString(s, pos, false)
			if err != nil {
				return 0, err
			}
			pos = end
			continue
		case '@':
			if pos+1 < len(s) && s[pos+1] == '"' {
				end, err := skipString(s, pos+1, true)
				if err != nil {
					return 0, err
				}
				pos = end
				continue
			}
		case '$':
			if pos+1 < len(s) && s[pos+1] == '"' {
				sub := &lexer{src: s, pos: pos + 1}
				if _, err := sub.interpolated(false); err != nil {
					return 0, err
				}
				pos = sub.pos
				continue
			}
		case '\'':
			sub := &lexer{src: s, pos: pos}
			if _, err := sub.char(); err != nil {
				return 0, err
			}
			pos = sub.pos
			continue
		case '(':
			stack = append(stack, ')')
		case '[':
			stack = append(stack, ']')
		case '{':
			stack = append(stack, '}')
		case ')', ']', '}':
			if c != stack[len(stack)-1] {
				return 0, &lexError{pos, "unbalanced " + strconv.Quote(string(c)) + " (expected " + strconv.Quote(string(stack[len(stack)-1])) + ")"}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return pos, nil
			}
		}
		pos++
	}
	return 0, &lexError{len(s), "missing " + strconv.Quote(string(stack[len(stack)-1]))}
}

func skipString(s string, pos int, verbatim bool) (int, error) {
	sub := &lexer{src: s, pos: pos}
	if _, err := sub.quoted(verbatim); err != nil {
		return 0, err
	}
	return sub.pos, nil
}
