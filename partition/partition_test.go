package partition

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// uniformRanges splits [low..high] into n contiguous, nearly equal ranges, like SF's
// UniformInt64Range partitioning (the last range ends exactly at high).
func uniformRanges(t testing.TB, n int, low, high int64) []Info {
	t.Helper()
	size := (uint64(high)-uint64(low))/uint64(n) + 1 // the difference as uint64 cannot overflow
	parts := make([]Info, n)
	lo := low
	for i := range n {
		hi := int64(uint64(lo) + size - 1)
		if i == n-1 {
			hi = high
		}
		parts[i] = Info{ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Kind: Int64Range, LowKey: lo, HighKey: hi}
		lo = hi + 1
	}
	return parts
}

func mustScheme(t testing.TB, kind Kind, parts []Info) *Scheme {
	t.Helper()
	s, err := NewScheme(kind, parts)
	if err != nil {
		t.Fatalf("NewScheme(%s): %v", kind, err)
	}
	return s
}

// gappedRanges has gaps (..-1, 50..99, 200..) and is given out of order.
func gappedRanges() []Info {
	return []Info{
		{ID: "p-100", Kind: Int64Range, LowKey: 100, HighKey: 199},
		{ID: "p-0", Kind: Int64Range, LowKey: 0, HighKey: 49},
	}
}

func namedParts(names ...string) []Info {
	parts := make([]Info, len(names))
	for i, n := range names {
		parts[i] = Info{ID: "id-" + n, Kind: Named, Name: n}
	}
	return parts
}

func TestKindStringAndParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
	}{
		{"Singleton", Singleton}, {"Int64Range", Int64Range}, {"UniformInt64Range", Int64Range}, {"Named", Named},
	} {
		got, err := ParseKind(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for k, want := range map[Kind]string{Singleton: "Singleton", Int64Range: "Int64Range", Named: "Named", 0: "Kind(0)", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
	for _, bad := range []string{"", "singleton", "Invalid", "Int64"} {
		if _, err := ParseKind(bad); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseKind(%q) error = %v, want one naming the value", bad, err)
		}
	}
	// Kind values are SF's PartitionKeyType.
	if Singleton != 1 || Int64Range != 2 || Named != 3 {
		t.Errorf("Kind values %d/%d/%d, want SF PartitionKeyType 1/2/3", Singleton, Int64Range, Named)
	}
}

func TestNewSchemeRejects(t *testing.T) {
	r := func(id string, lo, hi int64) Info { return Info{ID: id, Kind: Int64Range, LowKey: lo, HighKey: hi} }
	for _, tc := range []struct {
		name  string
		kind  Kind
		parts []Info
		want  string
	}{
		{"invalid kind", 0, []Info{{ID: "a"}}, "invalid scheme kind 0"},
		{"kind 4", 4, []Info{{ID: "a", Kind: 4}}, "invalid scheme kind 4"},
		{"no partitions", Int64Range, nil, "Int64Range scheme has no partitions"},
		{"singleton with two", Singleton, []Info{{ID: "a", Kind: Singleton}, {ID: "b", Kind: Singleton}}, "exactly 1 partition, got 2"},
		{"kind mismatch", Int64Range, []Info{r("a", 0, 1), {ID: "b", Kind: Named, Name: "x"}}, `partition 1 (ID "b") is Named, scheme is Int64Range`},
		{"empty ID", Singleton, []Info{{Kind: Singleton}}, "partition 0 has an empty ID"},
		{"duplicate ID", Int64Range, []Info{r("a", 0, 1), r("a", 2, 3)}, `partitions 0 and 1 have the same ID "a"`},
		{"low > high", Int64Range, []Info{r("a", 5, 4)}, `partition "a" has LowKey 5 > HighKey 4`},
		{"overlap", Int64Range, []Info{r("b", 10, 20), r("a", 0, 10)}, `ranges overlap: partition "a" [0..10] and partition "b" [10..20]`},
		{"contained", Int64Range, []Info{r("a", 0, 100), r("b", 10, 20)}, `ranges overlap`},
		{"empty name", Named, namedParts("x", ""), `partition "id-" of a Named scheme has an empty name`},
		{"duplicate name", Named, []Info{{ID: "1", Kind: Named, Name: "x"}, {ID: "2", Kind: Named, Name: "x"}}, `have the same name "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewScheme(tc.kind, tc.parts)
			if err == nil {
				t.Fatalf("NewScheme accepted %+v: %+v", tc.parts, s)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNewSchemeSortsAndCopies(t *testing.T) {
	in := gappedRanges()
	s := mustScheme(t, Int64Range, in)
	in[0].LowKey = -1000 // the scheme must not see the caller's later changes
	if s.Len() != 2 || s.Partition(0).ID != "p-0" || s.Partition(1).ID != "p-100" || s.Partition(1).LowKey != 100 {
		t.Fatalf("not sorted/copied: %+v", s.Partitions())
	}
	n := mustScheme(t, Named, namedParts("b", "a", "B", "ä"))
	var got []string
	for _, p := range n.Partitions() {
		got = append(got, p.Name)
	}
	if want := []string{"B", "a", "b", "ä"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("named order %q, want byte order %q", got, want)
	}
	if i, ok := n.IndexOfID("id-a"); !ok || n.Partition(i).Name != "a" {
		t.Fatalf("IndexOfID(id-a) = %d, %v", i, ok)
	}
	if _, ok := n.IndexOfID("nope"); ok {
		t.Fatal("IndexOfID found a missing ID")
	}
	// Adjacent ranges (HighKey+1 == next LowKey) are fine.
	mustScheme(t, Int64Range, []Info{{ID: "a", Kind: Int64Range, LowKey: math.MinInt64, HighKey: 0}, {ID: "b", Kind: Int64Range, LowKey: 1, HighKey: math.MaxInt64}})
}

func TestParseInt64MatchesStrconv(t *testing.T) {
	for _, in := range []string{
		"0", "-0", "+0", "7", "+7", "-7", "007", "-007", "123456789",
		"9223372036854775807", "-9223372036854775808", "+9223372036854775807",
		"9223372036854775808", "-9223372036854775809", "92233720368547758070", "18446744073709551616",
		"99999999999999999999999", "-99999999999999999999999",
		"", "+", "-", "--1", "+-1", " 1", "1 ", "1_000", "0x10", "1e3", "1.0", "١", "12a", "\x00",
	} {
		want, werr := strconv.ParseInt(in, 10, 64)
		got, why := parseInt64([]byte(in))
		if (werr == nil) != (why == "") || (werr == nil && got != want) {
			t.Errorf("parseInt64(%q) = %d, %q; strconv says %d, %v", in, got, why, want, werr)
		}
	}
}

func TestFindInt64Range(t *testing.T) {
	s := mustScheme(t, Int64Range, gappedRanges())
	for _, tc := range []struct {
		key     string
		want    int
		wantErr error
	}{
		{"0", 0, nil}, {"-0", 0, nil}, {"+25", 0, nil}, {"49", 0, nil}, {"049", 0, nil},
		{"100", 1, nil}, {"150", 1, nil}, {"199", 1, nil},
		{"-1", -1, ErrOutOfRange}, {"50", -1, ErrOutOfRange}, {"99", -1, ErrOutOfRange}, {"200", -1, ErrOutOfRange},
		{"-9223372036854775808", -1, ErrOutOfRange}, {"9223372036854775807", -1, ErrOutOfRange},
		{"abc", -1, ErrNotInteger}, {"", -1, ErrNotInteger}, {"1 ", -1, ErrNotInteger},
		{"9223372036854775808", -1, ErrNotInteger},
	} {
		got, err := s.Find([]byte(tc.key))
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("Find(%q) = %d, %v; want %d, %v", tc.key, got, err, tc.want, tc.wantErr)
		}
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Value != tc.key || ke.Kind != Int64Range {
				t.Errorf("Find(%q) error %#v is not a *KeyError with the value", tc.key, err)
			}
		}
	}
}

func TestFindFullInt64Range(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 64} {
		s := mustScheme(t, Int64Range, uniformRanges(t, n, math.MinInt64, math.MaxInt64))
		for i := range n {
			p := s.Partition(i)
			for _, v := range []int64{p.LowKey, p.HighKey, p.LowKey/2 + p.HighKey/2} {
				got, err := s.Find([]byte(strconv.FormatInt(v, 10)))
				if err != nil || got != i {
					t.Fatalf("n=%d: Find(%d) = %d, %v; want %d", n, v, got, err, i)
				}
			}
		}
	}
}

func TestFindNamed(t *testing.T) {
	s := mustScheme(t, Named, namedParts("west", "east", "North", "a", "ab"))
	for i := range s.Len() {
		name := s.Partition(i).Name
		got, err := s.Find([]byte(name))
		if err != nil || got != i {
			t.Errorf("Find(%q) = %d, %v; want %d", name, got, err, i)
		}
	}
	for _, bad := range []string{"", "north", "WEST", "eas", "easts", "b", "west ", "aa"} {
		got, err := s.Find([]byte(bad))
		if got != -1 || !errors.Is(err, ErrUnknownName) {
			t.Errorf("Find(%q) = %d, %v; want -1, ErrUnknownName", bad, got, err)
		}
	}
	k, err := s.ParseKey([]byte("east"))
	if err != nil || k != (Key{Kind: Named, Name: "east"}) {
		t.Fatalf("ParseKey(east) = %+v, %v", k, err)
	}
}

func TestFindSingletonIgnoresKey(t *testing.T) {
	s := mustScheme(t, Singleton, []Info{{ID: "only", Kind: Singleton}})
	for _, b := range [][]byte{nil, []byte(""), []byte("anything"), []byte("-5")} {
		if i, err := s.Find(b); i != 0 || err != nil {
			t.Errorf("Find(%q) = %d, %v; want 0, nil", b, i, err)
		}
		if k, err := s.ParseKey(b); k != (Key{Kind: Singleton}) || err != nil {
			t.Errorf("ParseKey(%q) = %+v, %v", b, k, err)
		}
	}
	if i, err := s.Lookup(Key{Kind: Singleton}); i != 0 || err != nil {
		t.Fatalf("Lookup(singleton) = %d, %v", i, err)
	}
}

func TestLookup(t *testing.T) {
	ranges := mustScheme(t, Int64Range, gappedRanges())
	named := mustScheme(t, Named, namedParts("a", "b"))
	single := mustScheme(t, Singleton, []Info{{ID: "s", Kind: Singleton}})
	for _, tc := range []struct {
		s       *Scheme
		k       Key
		want    int
		wantErr error
	}{
		{ranges, Key{Kind: Int64Range, Int: 120}, 1, nil},
		{ranges, Key{Kind: Int64Range, Int: 75}, -1, ErrOutOfRange},
		{ranges, Key{Kind: Named, Name: "a"}, -1, ErrKindMismatch},
		{ranges, Key{Kind: Singleton}, -1, ErrKindMismatch},
		{named, Key{Kind: Named, Name: "b"}, 1, nil},
		{named, Key{Kind: Named, Name: "c"}, -1, ErrUnknownName},
		{named, Key{Kind: Int64Range, Int: 1}, -1, ErrKindMismatch},
		{single, Key{Kind: Int64Range, Int: 1}, -1, ErrKindMismatch},
		{single, Key{Kind: Singleton}, 0, nil},
	} {
		got, err := tc.s.Lookup(tc.k)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s.Lookup(%+v) = %d, %v; want %d, %v", tc.s.Kind(), tc.k, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestRepresentativeRoundTrips(t *testing.T) {
	for _, s := range []*Scheme{
		mustScheme(t, Int64Range, uniformRanges(t, 7, math.MinInt64, math.MaxInt64)),
		mustScheme(t, Int64Range, gappedRanges()),
		mustScheme(t, Named, namedParts("x", "y", "Z")),
		mustScheme(t, Singleton, []Info{{ID: "s", Kind: Singleton}}),
	} {
		for i := range s.Len() {
			k := s.Representative(i)
			if k.Kind != s.Kind() {
				t.Fatalf("%s: Representative(%d) has kind %s", s.Kind(), i, k.Kind)
			}
			got, err := s.Find([]byte(k.String()))
			if err != nil || got != i {
				t.Fatalf("%s: Find(Representative(%d)=%q) = %d, %v", s.Kind(), i, k, got, err)
			}
			if got, err := s.Lookup(k); err != nil || got != i {
				t.Fatalf("%s: Lookup(Representative(%d)) = %d, %v", s.Kind(), i, got, err)
			}
		}
	}
}

func TestErrorMessages(t *testing.T) {
	ranges := mustScheme(t, Int64Range, []Info{
		{ID: "a", Kind: Int64Range, LowKey: 0, HighKey: 49},
		{ID: "b", Kind: Int64Range, LowKey: 50, HighKey: 98},
	})
	many := mustScheme(t, Int64Range, uniformRanges(t, 8, 0, 799))
	named := mustScheme(t, Named, namedParts("b", "a"))
	manyNames := mustScheme(t, Named, namedParts("n1", "n2", "n3", "n4", "n5", "n6", "n7"))
	for _, tc := range []struct {
		s    *Scheme
		key  string
		want string
	}{
		{ranges, "abc", `partition key "abc" is not an int64 (service is Int64Range): unexpected 'a' at byte 0 (want decimal digits with an optional leading + or -)`},
		{ranges, "12\x00", `partition key "12\x00" is not an int64 (service is Int64Range): unexpected byte 0x00 at byte 2 (want decimal digits with an optional leading + or -)`},
		{ranges, "", `partition key "" is not an int64 (service is Int64Range): empty key`},
		{ranges, "-", `partition key "-" is not an int64 (service is Int64Range): sign without digits`},
		{ranges, "9223372036854775808", `partition key "9223372036854775808" is not an int64 (service is Int64Range): overflows int64 (valid: -9223372036854775808..9223372036854775807)`},
		{ranges, "99", `partition key "99" is outside every partition range [0..49], [50..98]`},
		{many, "-1", `partition key "-1" is outside every partition range [0..99], [100..199], [200..299], [300..399], [400..499], … (3 more)`},
		{named, "x", `unknown partition name "x" (names: "a", "b")`},
		{manyNames, "n", `unknown partition name "n" (names: "n1", "n2", "n3", "n4", "n5", … (2 more))`},
		{named, strings.Repeat("z", 100), `unknown partition name "` + strings.Repeat("z", 64) + `…(100 bytes)" (names: "a", "b")`},
	} {
		_, err := tc.s.Find([]byte(tc.key))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Find(%q) error:\n got %v\nwant %s", tc.key, err, tc.want)
		}
	}
	_, err := named.Lookup(Key{Kind: Int64Range, Int: 5})
	if want := `partition key "5" does not fit: service is Named, key is Int64Range (names: "a", "b")`; err == nil || err.Error() != want {
		t.Errorf("kind mismatch error:\n got %v\nwant %s", err, want)
	}
}

func TestFindAndParseKeyDoNotAllocate(t *testing.T) {
	ranges := mustScheme(t, Int64Range, uniformRanges(t, 64, math.MinInt64, math.MaxInt64))
	named := mustScheme(t, Named, namedParts("alpha", "beta", "gamma", "delta", "epsilon"))
	single := mustScheme(t, Singleton, []Info{{ID: "s", Kind: Singleton}})
	for _, tc := range []struct {
		s   *Scheme
		key []byte
	}{
		{ranges, []byte("-4611686018427387904")},
		{ranges, []byte("+9223372036854775807")},
		{named, []byte("gamma")},
		{single, []byte("whatever")},
	} {
		var sink int
		allocs := testing.AllocsPerRun(1000, func() {
			i, err := tc.s.Find(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			sink += i
		})
		if allocs != 0 {
			t.Errorf("%s Find(%q): %v allocs/op, want 0", tc.s.Kind(), tc.key, allocs)
		}
		allocs = testing.AllocsPerRun(1000, func() {
			k, err := tc.s.ParseKey(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			i, err := tc.s.Lookup(k)
			if err != nil {
				t.Fatal(err)
			}
			sink += i
		})
		if allocs != 0 {
			t.Errorf("%s ParseKey+Lookup(%q): %v allocs/op, want 0", tc.s.Kind(), tc.key, allocs)
		}
	}
}

func BenchmarkFind(b *testing.B) {
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("tenant-%03d", i)
	}
	for _, tc := range []struct {
		name string
		s    *Scheme
		key  []byte
	}{
		{"Singleton", mustScheme(b, Singleton, []Info{{ID: "s", Kind: Singleton}}), []byte("x")},
		{"Int64Range/64", mustScheme(b, Int64Range, uniformRanges(b, 64, math.MinInt64, math.MaxInt64)), []byte("-1234567890123456789")},
		{"Int64Range/1024", mustScheme(b, Int64Range, uniformRanges(b, 1024, 0, 1<<40)), []byte("123456789012")},
		{"Named/64", mustScheme(b, Named, namedParts(names...)), []byte("tenant-042")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.s.Find(tc.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{
		"0", "-0", "+5", "49", "50", "99", "100", "199", "200", "-1", "007",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
		"", "+", "-", " 1", "1_0", "0x1f", "abc", "a", "ab", "west", "West", "\xff\x00", "١٢",
	} {
		f.Add([]byte(seed))
	}
	ranges := mustScheme(f, Int64Range, []Info{
		{ID: "neg", Kind: Int64Range, LowKey: math.MinInt64, HighKey: -1000},
		{ID: "low", Kind: Int64Range, LowKey: 0, HighKey: 49},
		{ID: "mid", Kind: Int64Range, LowKey: 100, HighKey: 199},
		{ID: "top", Kind: Int64Range, LowKey: 1 << 40, HighKey: math.MaxInt64},
	})
	named := mustScheme(f, Named, namedParts("a", "ab", "west", "West", "ä"))
	single := mustScheme(f, Singleton, []Info{{ID: "s", Kind: Singleton}})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Int64Range: strconv.ParseInt is the oracle for the integer syntax.
		want, werr := strconv.ParseInt(string(b), 10, 64)
		k, err := ranges.ParseKey(b)
		if (werr == nil) != (err == nil) {
			t.Fatalf("ParseKey(%q) err = %v, strconv err = %v", b, err, werr)
		}
		i, ferr := ranges.Find(b)
		if err != nil {
			if !errors.Is(err, ErrNotInteger) || !errors.Is(ferr, ErrNotInteger) || i != -1 {
				t.Fatalf("Find(%q) = %d, %v; ParseKey err %v", b, i, ferr, err)
			}
		} else {
			if k.Int != want || k.Kind != Int64Range {
				t.Fatalf("ParseKey(%q) = %+v, strconv says %d", b, k, want)
			}
			if ferr == nil {
				p := ranges.Partition(i)
				if want < p.LowKey || want > p.HighKey {
					t.Fatalf("Find(%q) = %d [%d..%d], does not contain %d", b, i, p.LowKey, p.HighKey, want)
				}
			} else {
				if !errors.Is(ferr, ErrOutOfRange) {
					t.Fatalf("Find(%q): %v, want ErrOutOfRange", b, ferr)
				}
				for j := range ranges.Len() {
					if p := ranges.Partition(j); want >= p.LowKey && want <= p.HighKey {
						t.Fatalf("Find(%q) says out of range but partition %d [%d..%d] holds it", b, j, p.LowKey, p.HighKey)
					}
				}
			}
		}
		if ferr != nil && ferr.Error() == "" {
			t.Fatal("empty error message")
		}
		// Named: success iff the bytes equal a partition name.
		i, err = named.Find(b)
		exists := false
		for j := range named.Len() {
			exists = exists || named.Partition(j).Name == string(b)
		}
		if (err == nil) != exists {
			t.Fatalf("Named Find(%q) = %d, %v; name exists: %v", b, i, err, exists)
		}
		if err == nil && named.Partition(i).Name != string(b) {
			t.Fatalf("Named Find(%q) = partition %q", b, named.Partition(i).Name)
		}
		if err != nil && !errors.Is(err, ErrUnknownName) {
			t.Fatalf("Named Find(%q): %v, want ErrUnknownName", b, err)
		}
		// Singleton: always partition 0.
		if i, err := single.Find(b); i != 0 || err != nil {
			t.Fatalf("Singleton Find(%q) = %d, %v", b, i, err)
		}
	})
}
