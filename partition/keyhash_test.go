package partition

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"testing"
)

// keyHashVectors are published test vectors: the MD5 digests of RFC 1321 (appendix A.5) and the
// 64-bit FNV-1a values of the FNV reference test suite, with the int64 each hash gives (the first 8
// digest bytes little-endian for md5-int64, the hash's 64 bits as a signed number for fnv1a-64).
// docs/policies.md publishes the same table.
var keyHashVectors = []struct {
	key       string
	md5       string // published digest
	md5Int64  int64
	fnv       uint64 // published FNV-1a 64 value
	fnv1a64   int64
	fromPaper bool // the FNV value is in the published suite (the others are computed from the definition)
}{
	{"", "d41d8cd98f00b204e9800998ecf8427e", 338333539836370388, 0xcbf29ce484222325, -3750763034362895579, true},
	{"a", "0cc175b9c0f1b6a831c399e269772661", -6289574019528802036, 0xaf63dc4c8601ec8c, -5808556873153909620, true},
	{"abc", "900150983cd24fb0d6963f7d28e17f72", -5742139842178842224, 0xe71fa2190541574b, -1792535898324117685, false},
	{"message digest", "f96b697d7cb7938d525a2f31aaf161d0", -8245044747477357575, 0x2dcbcce86fce9934, 3299956450659309876, false},
	{"foobar", "3858f62230ac3c915f300c664312c63f", -7981315116862384072, 0x85944171f73967e8, -8821353812377114648, true},
	{"Zürich", "103a821a3a6a0b923c9f74a39662bb51", -7923122321642866160, 0x0ef841596f67fdc0, 1078683963132214720, false},
}

// invalidKeyHashVectors are keys that are not valid UTF-8, hashed as .NET hashes the string it decodes
// from them (each ill-formed part one U+FFFD, AppendValidUTF8). Every value was computed with Python 3.11
// (bytes.decode("utf-8", "replace"), hashlib.md5 and FNV-1a written out), not with this package.
// docs/policies.md publishes the same table.
var invalidKeyHashVectors = []struct {
	key      string // hex
	replaced string // hex: the UTF-8 bytes of the decoded string
	md5      string
	md5Int64 int64
	fnv      uint64
	fnv1a64  int64
}{
	{"61ff62", "61efbfbd62", "ff6405018d5ab2642e35fdba389b7c51", 7255961511301309695, 0x6793f3a9fb1eeead, 7463576918871174829},
	{"e28241", "efbfbd41", "f84d8fbf9898def6030a895c54117696", -657920713733222920, 0xaf468be0782e98b1, -5816808072497162063},
	{"eda080", "efbfbdefbfbdefbfbd", "3eb91feed010d84682979a9a79004710", 5104848667158755646, 0x63161f5558a00e48, 7139928710662065736},
	{"f09080", "efbfbd", "9b759040321a408a5c7768b4511287a6", -8484752894832118373, 0x6f6d661b9658624a, 8029185979343987274},
	{"637573746f6d65722dc3", "637573746f6d65722defbfbd", "9d5d175d118e13633676a163cc214bcc", 7139206039539768733, 0x2400c9dc0523178d, 2594295332181579661},
}

func TestKeyHashVectors(t *testing.T) {
	for _, v := range keyHashVectors {
		d, err := hex.DecodeString(v.md5)
		if err != nil {
			t.Fatal(err)
		}
		if le := int64(binary.LittleEndian.Uint64(d[:8])); le != v.md5Int64 {
			t.Fatalf("table: %q: the digest's first 8 bytes are %d little-endian, the table says %d", v.key, le, v.md5Int64)
		}
		if int64(v.fnv) != v.fnv1a64 {
			t.Fatalf("table: %q: %#x as int64 is %d, the table says %d", v.key, v.fnv, int64(v.fnv), v.fnv1a64)
		}
		if got := MD5Int64.Sum([]byte(v.key)); got != v.md5Int64 {
			t.Errorf("md5-int64(%q) = %d, want %d", v.key, got, v.md5Int64)
		}
		if got := FNV1a64.Sum([]byte(v.key)); got != v.fnv1a64 {
			t.Errorf("fnv1a-64(%q) = %d, want %d", v.key, got, v.fnv1a64)
		}
	}
}

// TestKeyHashOfInvalidUTF8 checks the invalid-UTF-8 vectors, through Sum and AppendKey, and that a key
// hashes as its replacement does.
func TestKeyHashOfInvalidUTF8(t *testing.T) {
	for _, v := range invalidKeyHashVectors {
		key, err1 := hex.DecodeString(v.key)
		replaced, err2 := hex.DecodeString(v.replaced)
		d, err3 := hex.DecodeString(v.md5)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		if le := int64(binary.LittleEndian.Uint64(d[:8])); le != v.md5Int64 || int64(v.fnv) != v.fnv1a64 {
			t.Fatalf("table: %s: the int64 columns do not follow from the digests", v.key)
		}
		if got := AppendValidUTF8(nil, key); string(got) != string(replaced) {
			t.Errorf("%s: replaced to %x, want %s", v.key, got, v.replaced)
		}
		for _, c := range []struct {
			h    KeyHash
			want int64
		}{{MD5Int64, v.md5Int64}, {FNV1a64, v.fnv1a64}} {
			if got := c.h.Sum(key); got != c.want {
				t.Errorf("%s(%s) = %d, want %d", c.h, v.key, got, c.want)
			}
			if got := c.h.Sum(replaced); got != c.want {
				t.Errorf("%s(%s) = %d, want %d", c.h, v.replaced, got, c.want)
			}
			if got, want := string(c.h.AppendKey([]byte("k="), key)), "k="+strconv.FormatInt(c.want, 10); got != want {
				t.Errorf("%s.AppendKey(k=, %s) = %q, want %q", c.h, v.key, got, want)
			}
		}
	}
	// Past Sum's stack buffer: a long invalid key hashes as its replacement.
	long := append(bytes.Repeat([]byte{0xff}, 300), 'z')
	replaced := AppendValidUTF8(nil, long)
	for _, h := range []KeyHash{MD5Int64, FNV1a64} {
		if h.Sum(long) != h.Sum(replaced) || string(h.AppendKey(nil, long)) != string(h.AppendKey(nil, replaced)) {
			t.Errorf("%s: a 301-byte invalid key does not hash as its replacement", h)
		}
	}
	if got := string(NoKeyHash.AppendKey(nil, []byte{0xff})); got != "\xff" {
		t.Errorf("NoKeyHash changed an invalid key to %q", got)
	}
}

func TestKeyHashAppendKeyFindsTheHashedPartition(t *testing.T) {
	// Two partitions split int64 at 0: the hash's sign decides.
	s, err := NewScheme(Int64Range, []Info{
		{ID: "neg", Kind: Int64Range, LowKey: -1 << 63, HighKey: -1},
		{ID: "pos", Kind: Int64Range, LowKey: 0, HighKey: 1<<63 - 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		h    KeyHash
		key  string
		want string
	}{
		{MD5Int64, "", "pos"}, {MD5Int64, "a", "neg"}, {FNV1a64, "message digest", "pos"}, {FNV1a64, "foobar", "neg"},
	} {
		i, err := s.Find(tc.h.AppendKey(nil, []byte(tc.key)))
		if err != nil {
			t.Fatalf("%s(%q): %v", tc.h, tc.key, err)
		}
		if got := s.Partition(i).ID; got != tc.want {
			t.Errorf("%s(%q) went to partition %s, want %s", tc.h, tc.key, got, tc.want)
		}
	}
	if got := string(NoKeyHash.AppendKey(nil, []byte("abc"))); got != "abc" {
		t.Errorf("NoKeyHash changed the key to %q", got)
	}
}

func TestParseKeyHash(t *testing.T) {
	for _, s := range []string{"", "md5-int64", "fnv1a-64"} {
		h, err := ParseKeyHash(s)
		if err != nil || h.String() != s {
			t.Errorf("ParseKeyHash(%q) = %v, %v", s, h, err)
		}
	}
	if _, err := ParseKeyHash("MD5"); err == nil {
		t.Error("ParseKeyHash accepted MD5")
	}
}

func TestKeyHashSumDoesNotAllocate(t *testing.T) {
	invalid := append(bytes.Repeat([]byte{0xff}, 100), "-4711"...) // 305 bytes after the replacement
	for _, key := range [][]byte{[]byte("customer-4711"), []byte("customer-\xe2\x82-4711"), invalid} {
		var buf []byte
		for _, h := range []KeyHash{MD5Int64, FNV1a64} {
			buf = h.AppendKey(buf[:0], key) // grows buf once, as a request's reused buffer
			if n := testing.AllocsPerRun(100, func() { buf = h.AppendKey(buf[:0], key) }); n != 0 {
				t.Errorf("%s.AppendKey(%q): %v allocations", h, key, n)
			}
			if len(key) < 50 {
				if n := testing.AllocsPerRun(100, func() { _ = h.Sum(key) }); n != 0 {
					t.Errorf("%s.Sum(%q): %v allocations", h, key, n)
				}
			}
		}
	}
}
