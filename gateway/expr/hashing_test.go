package expr

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/partition"
)

// TestStringKeyHashing runs the .NET code APIM policies use to turn a string into an Int64Range key, with
// the published vectors (MD5 of RFC 1321, SHA-256 of FIPS 180-2: the int64 is the first 8 digest bytes
// read little-endian, as BitConverter.ToInt64 on x86 .NET), and the errors .NET would throw.
func TestStringKeyHashing(t *testing.T) {
	cases := []struct {
		name, src, want string // want "error: TEXT" for an *EvalError containing TEXT
	}{
		{"md5 ToInt64", `@(BitConverter.ToInt64(System.Security.Cryptography.MD5.Create().ComputeHash(System.Text.Encoding.UTF8.GetBytes("abc")), 0))`, "-5742139842178842224"},
		{"md5 of empty", `@(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("")), 0))`, "338333539836370388"},
		{"md5 second half", `@(System.BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 8))`, fmt.Sprint(int64(0x727fe1287d3f96d6))},
		{"sha256 ToInt64", `@(BitConverter.ToInt64(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 0))`, "-1527000031757436742"},
		{"HashData", `@(BitConverter.ToInt64(MD5.HashData(Encoding.UTF8.GetBytes("abc")), 0))`, "-5742139842178842224"},
		{"ToInt32", `@(BitConverter.ToInt32(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 0))`, "-1739587184"},
		{"ToString of a digest", `@(BitConverter.ToString(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))))`, "90-01-50-98-3C-D2-4F-B0-D6-96-3F-7D-28-E1-7F-72"},
		{"lower-case hex", `@(BitConverter.ToString(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("a"))).Replace("-", "").ToLower())`, "0cc175b9c0f1b6a831c399e269772661"},
		{"base64", `@(Convert.ToBase64String(Encoding.UTF8.GetBytes("abc")))`, "YWJj"},
		{"digest length and bytes", `@(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")).Length + hashOf0())`, ""}, // replaced below
		{"UTF-8 of non-ASCII", `@(Encoding.UTF8.GetBytes("Zürich").Length)`, "7"},
		{"GetString round trip", `@(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes("Zürich")))`, "Zürich"},
		{"bucket with Math.Abs", `@(Math.Abs(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 0) % 16))`, "0"},
		{"mask to non-negative", `@(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 0) & long.MaxValue)`, fmt.Sprint(int64(-5742139842178842224) & (1<<63 - 1))},
		{"unchecked multiply wraps", `@(unchecked(long.MaxValue * 31L + 7))`, "9223372036854775784"},
		{"byte indexer is int", `@(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))[0] * 2)`, "288"},
		{"statement block with using and byte[]", `@{
			var key = context.Request.MatchedParameters["name"];
			using (var md5 = System.Security.Cryptography.MD5.Create())
			{
				byte[] hash = md5.ComputeHash(System.Text.Encoding.UTF8.GetBytes(key));
				long k = BitConverter.ToInt64(hash, 0);
				return Math.Abs(k % 4);
			}
		}`, fmt.Sprint(abs(partition.MD5Int64.Sum([]byte("foo")) % 4))},
		{"digest ToString", `@(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")).ToString())`, "System.Byte[]"},
		{"equal digests", `@(MD5.HashData(Encoding.UTF8.GetBytes("x")) == MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("x")))`, "True"},
		{"GetBytes of null", `@(Encoding.UTF8.GetBytes(context.Request.Headers.GetValueOrDefault("X-None")))`, "error: ArgumentNullException"},
		{"ComputeHash of null", `@{ byte[] b = null; return MD5.Create().ComputeHash(b).Length; }`, "error: ArgumentNullException"},
		{"ToInt64 past the end", `@(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 9))`, "error: ArgumentException"},
		{"ToInt64 start outside", `@(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")), 16))`, "error: ArgumentOutOfRangeException"},
		{"ToInt64 negative start", `@(BitConverter.ToInt64(Encoding.UTF8.GetBytes("abcdefgh"), -1))`, "error: ArgumentOutOfRangeException"},
		{"ToInt64 short array", `@(BitConverter.ToInt64(Encoding.UTF8.GetBytes("abc"), 0))`, "error: ArgumentException"},
		{"byte index outside", `@(Encoding.UTF8.GetBytes("abc")[3])`, "error: IndexOutOfRangeException"},
		{"Math.Abs of long.MinValue", `@(Math.Abs(long.MinValue))`, "error: OverflowException"},
	}
	for _, tc := range cases {
		if tc.name == "digest length and bytes" {
			tc.src, tc.want = `@(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")).Length + MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")).Length)`, "48"
		}
		t.Run(tc.name, func(t *testing.T) {
			c := evalContext(t)
			e := mustCompile(t, tc.src, TypeAny)
			v, err := e.Eval(c)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				var ee *EvalError
				if !errors.As(err, &ee) || !strings.Contains(ee.Msg, want) {
					t.Fatalf("Eval = %v, %v; want an *EvalError mentioning %q", v, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != tc.want {
				t.Errorf("= %q, want %q", got, tc.want)
			}
		})
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestExpressionHashEqualsBuiltIn: the expression form of the built-in partitionKeyHash md5-int64 gives the
// built-in's number for the same key, so a policy and a backend's partitionKeyHash agree (fnv1a-64 needs a
// loop, which expressions cannot write). Keys that are not valid UTF-8 included: both replace their
// ill-formed parts alike (partition.AppendValidUTF8).
func TestExpressionHashEqualsBuiltIn(t *testing.T) {
	e := mustCompile(t, `@(BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes(context.Request.MatchedParameters["name"])), 0))`, TypeLong)
	for _, key := range []string{"", "a", "customer-4711", "Zürich", "🙂 emoji", strings.Repeat("x", 1000),
		"a\xffb", "\xe2\x82A", "\xed\xa0\x80", "\xf0\x90\x80", "customer-\xc3", "\xc0\xaf\xf4\x90\x80\x80",
		"\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", strings.Repeat("\xff", 300)} {
		c := evalContext(t)
		c.MatchedParameters[1].Value = []byte(key)
		v, err := e.Eval(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := partition.MD5Int64.Sum([]byte(key)); v.I != want {
			t.Errorf("%q: expression %d, md5-int64 %d", key, v.I, want)
		}
	}
}

// TestInvalidUTF8BecomesReplacementCharacters: .NET decodes request bytes to a string first, so an
// ill-formed part is one U+FFFD by the time GetBytes encodes it: a byte that starts no sequence is one, a
// truncated sequence is one in all.
func TestInvalidUTF8BecomesReplacementCharacters(t *testing.T) {
	get := mustCompile(t, `@(BitConverter.ToString(Encoding.UTF8.GetBytes(context.Request.MatchedParameters["name"])))`, TypeString)
	roundTrip := mustCompile(t, `@(BitConverter.ToString(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(context.Request.MatchedParameters["name"])))))`, TypeString)
	for _, tc := range []struct{ key, want string }{
		{"a\xffb", "61-EF-BF-BD-62"},
		{"\xe2\x82A", "EF-BF-BD-41"},
		{"\xff\xff", "EF-BF-BD-EF-BF-BD"},
		{"\xed\xa0\x80", "EF-BF-BD-EF-BF-BD-EF-BF-BD"},
		{"\xf0\x90\x80", "EF-BF-BD"},
		{"Z\xc3\xbcrich", "5A-C3-BC-72-69-63-68"},
	} {
		for _, e := range []*Expr{get, roundTrip} {
			c := evalContext(t)
			c.MatchedParameters[1].Value = []byte(tc.key)
			v, err := e.Eval(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != tc.want {
				t.Errorf("%q: got %s, want %s", tc.key, got, tc.want)
			}
		}
	}
}

func TestStringKeyHashingCompileErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`@(MD5.Create().TransformBlock())`, `unknown method "TransformBlock" of HashAlgorithm`},
		{`@(BitConverter.ToInt64("abc", 0))`, "wrong arguments for BitConverter.ToInt64"},
		{`@(Encoding.UTF8.GetBytes(42))`, "wrong arguments for Encoding.UTF8.GetBytes"},
		{`@(SHA1.Create())`, "SHA1 is not supported by sfgate"},
		{`@(Encoding.ASCII.GetBytes("a"))`, "Encoding is not supported by sfgate"},
		{`@(checked(1 + 2))`, `"checked" is not supported by sfgate`},
		{`@{ unchecked { return 1; } }`, "write unchecked(expression)"},
		{`@{ using (MD5.Create()) { return 1; } }`, "using needs a declaration"},
		{`@(MD5)`, "is a type, not a value"},
		{`@(Encoding.UTF8.GetBytes("a") + 1)`, `operator "+" needs numbers`},
	} {
		_, err := Compile(tc.src, Pos{File: "t.xml", Line: 1, Col: 1}, TypeAny)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%s) = %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}
