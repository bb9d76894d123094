package partition

import (
	"bytes"
	"encoding/hex"
	"testing"
	"unicode/utf8"
)

// validUTF8Vectors: the input and the bytes after U+FFFD substitution of maximal subparts. The expected
// outputs were computed with Python 3.11's bytes.decode("utf-8", "replace").encode(), which follows the same
// practice as .NET Core 3.0 and later (it gives Table 3-8 of the Unicode Standard's chapter 3, the "Unicode
// Table 3-8" row), not with this package.
var validUTF8Vectors = []struct{ name, in, want string }{
	{"empty", "", ""},
	{"ASCII", "616263", "616263"},
	{"valid multi-byte", "5ac3bc7269636820e282acf09d849e", "5ac3bc7269636820e282acf09d849e"},
	{"a literal U+FFFD", "efbfbd", "efbfbd"},
	{"truncated 3-byte before ASCII", "e28241", "efbfbd41"},
	{"two FF", "ffff", "efbfbdefbfbd"},
	{"surrogate ED A0 80", "eda080", "efbfbdefbfbdefbfbd"},
	{"truncated 4-byte at the end", "f09080", "efbfbd"},
	{"lone continuation", "80", "efbfbd"},
	{"continuations", "80bf80", "efbfbdefbfbdefbfbd"},
	{"C0 overlong slash", "c0af", "efbfbdefbfbd"},
	{"C1", "c1bf", "efbfbdefbfbd"},
	{"E0 overlong", "e08080", "efbfbdefbfbdefbfbd"},
	{"E0 truncated", "e0a0", "efbfbd"},
	{"F0 overlong", "f0808080", "efbfbdefbfbdefbfbdefbfbd"},
	{"F4 above U+10FFFF", "f4908080", "efbfbdefbfbdefbfbdefbfbd"},
	{"F4 truncated", "f48fbf", "efbfbd"},
	{"F5", "f5808080", "efbfbdefbfbdefbfbdefbfbd"},
	{"FE FF", "feff", "efbfbdefbfbd"},
	{"lead then lead", "e2e282ac", "efbfbde282ac"},
	{"2-byte lead at the end", "61c3", "61efbfbd"},
	{"Unicode Table 3-8", "61f18080e180c262806380bf64", "61efbfbdefbfbdefbfbd62efbfbd63efbfbdefbfbd64"},
	{"truncations in a row", "61f18080e180c26280", "61efbfbdefbfbdefbfbd62efbfbd"},
	{"valid around invalid", "c3bcffe282ac", "c3bcefbfbde282ac"},
}

func TestAppendValidUTF8(t *testing.T) {
	for _, v := range validUTF8Vectors {
		in, err := hex.DecodeString(v.in)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendValidUTF8([]byte("prefix:"), in)
		if h := hex.EncodeToString(got); h != hex.EncodeToString([]byte("prefix:"))+v.want {
			t.Errorf("%s: AppendValidUTF8(%s) = %s, want %s after the prefix", v.name, v.in, h, v.want)
		}
	}
}

// FuzzAppendValidUTF8: the output is valid UTF-8; valid input comes back unchanged; an input byte that
// starts no well-formed sequence never survives, and the output holds at most one U+FFFD per input byte
// (a maximal subpart is at least one byte) and at least one U+FFFD per run that was invalid.
func FuzzAppendValidUTF8(f *testing.F) {
	for _, v := range validUTF8Vectors {
		in, _ := hex.DecodeString(v.in)
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := AppendValidUTF8(nil, in)
		if !utf8.Valid(out) {
			t.Fatalf("AppendValidUTF8(%x) = %x, not valid UTF-8", in, out)
		}
		if utf8.Valid(in) != bytes.Equal(in, out) {
			t.Fatalf("AppendValidUTF8(%x) = %x: valid %v, changed %v", in, out, utf8.Valid(in), !bytes.Equal(in, out))
		}
		added := bytes.Count(out, []byte("\uFFFD")) - bytes.Count(in, []byte("\uFFFD"))
		if added > len(in) || !utf8.Valid(in) && added < 1 {
			t.Fatalf("AppendValidUTF8(%x) = %x: %d U+FFFD added", in, out, added)
		}
		// Appending to a prefix changes nothing else, and a valid sequence is a fixed point.
		if got := AppendValidUTF8([]byte("x"), in); !bytes.Equal(got[1:], out) {
			t.Fatalf("after a prefix: %x, alone: %x", got[1:], out)
		}
		if again := AppendValidUTF8(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("AppendValidUTF8 of its output %x gave %x", out, again)
		}
	})
}
