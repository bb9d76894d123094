package partition

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is a partition scheme kind. Its values equal SF's PartitionKeyType (1, 2, 3), so a Kind
// converts directly to the PartitionKeyType query parameter of ResolvePartition.
type Kind uint8

// Partition scheme kinds.
const (
	Singleton  Kind = 1 // one partition, no key
	Int64Range Kind = 2 // inclusive int64 ranges
	Named      Kind = 3 // partitions by name
)

// String returns SF's ServicePartitionKind spelling: "Singleton", "Int64Range" or "Named".
func (k Kind) String() string {
	switch k {
	case Singleton:
		return "Singleton"
	case Int64Range:
		return "Int64Range"
	case Named:
		return "Named"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= Singleton && k <= Named }

// ParseKind parses SF's ServicePartitionKind ("Singleton", "Int64Range", "Named") and the
// PartitionScheme spelling of service descriptions ("UniformInt64Range"). Matching is exact, as
// SF prints these names.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "Singleton":
		return Singleton, nil
	case "Int64Range", "UniformInt64Range":
		return Int64Range, nil
	case "Named":
		return Named, nil
	}
	return 0, fmt.Errorf("partition: unknown partition kind %q (want Singleton, Int64Range, UniformInt64Range or Named)", s)
}

// Info describes one partition (SF PartitionInformation).
type Info struct {
	ID      string // partition GUID, as SF prints it
	Kind    Kind
	LowKey  int64  // Int64Range: first key, inclusive
	HighKey int64  // Int64Range: last key, inclusive
	Name    string // Named: the partition name
}

// Key is a parsed partition key.
type Key struct {
	Kind Kind
	Int  int64  // Int64Range
	Name string // Named
}

// String returns the key as SF's PartitionKeyValue expects it: "" for Singleton, the decimal
// integer for Int64Range, the name for Named.
func (k Key) String() string {
	switch k.Kind {
	case Int64Range:
		return strconv.FormatInt(k.Int, 10)
	case Named:
		return k.Name
	}
	return ""
}

// Sentinel errors, wrapped by *KeyError; test with errors.Is.
var (
	// ErrNotInteger: the key of an Int64Range service is not a decimal int64.
	ErrNotInteger = errors.New("partition key is not an int64")
	// ErrOutOfRange: the integer key lies in no partition's range.
	ErrOutOfRange = errors.New("partition key is outside every partition range")
	// ErrUnknownName: the key of a Named service names no partition.
	ErrUnknownName = errors.New("unknown partition name")
	// ErrKindMismatch: the key's kind differs from the service's scheme kind.
	ErrKindMismatch = errors.New("partition key kind does not match the service's partition scheme")
)

// KeyError reports a partition key that does not fit a service's scheme.
type KeyError struct {
	Kind  Kind   // the service's scheme kind
	Value string // the key as received (or as formatted from a Key)
	Err   error  // ErrNotInteger, ErrOutOfRange, ErrUnknownName or ErrKindMismatch
	// Detail says more about the failure: why an integer did not parse, or the key's own kind
	// for ErrKindMismatch. May be empty.
	Detail string
	// Fits lists what would have fit: the scheme's ranges or names, capped to a few.
	Fits string
}

// maxShownValue caps how much of a key Error prints, so a huge key cannot blow up logs.
const maxShownValue = 64

// Error names the value, the problem and what would have fit.
func (e *KeyError) Error() string {
	v := e.Value
	if len(v) > maxShownValue {
		v = v[:maxShownValue] + "…(" + strconv.Itoa(len(e.Value)) + " bytes)"
	}
	q := strconv.Quote(v)
	var b strings.Builder
	switch e.Err {
	case ErrNotInteger:
		fmt.Fprintf(&b, "partition key %s is not an int64 (service is %s)", q, e.Kind)
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
	case ErrOutOfRange:
		fmt.Fprintf(&b, "partition key %s is outside every partition range %s", q, e.Fits)
	case ErrUnknownName:
		fmt.Fprintf(&b, "unknown partition name %s (names: %s)", q, e.Fits)
	case ErrKindMismatch:
		fmt.Fprintf(&b, "partition key %s does not fit: service is %s", q, e.Kind)
		if e.Detail != "" {
			b.WriteString(", " + e.Detail)
		}
		switch e.Kind {
		case Int64Range:
			b.WriteString(" (ranges: " + e.Fits + ")")
		case Named:
			b.WriteString(" (names: " + e.Fits + ")")
		}
	default:
		fmt.Fprintf(&b, "partition key %s (service is %s): %v", q, e.Kind, e.Err)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *KeyError) Unwrap() error { return e.Err }

// Scheme is the immutable, validated partition scheme of one service, sorted for binary search
// (Int64Range by LowKey, Named by name in byte order). Safe for concurrent use.
type Scheme struct {
	kind  Kind
	parts []Info
	lows  []int64  // Int64Range: parts[i].LowKey, for a cache-friendly search
	names []string // Named: parts[i].Name
	fits  string   // preformatted "what would fit" list for errors
}

// maxListed caps how many ranges or names an error message lists.
const maxListed = 5

// NewScheme validates parts and builds a Scheme of the given kind. It checks that kind is
// known, every part has that kind and a non-empty ID, IDs are unique, a Singleton scheme has
// exactly one partition, Int64Range ranges have LowKey <= HighKey and do not overlap, and Named
// names are non-empty and unique. parts is copied.
func NewScheme(kind Kind, parts []Info) (*Scheme, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("partition: invalid scheme kind %d (want 1 Singleton, 2 Int64Range or 3 Named)", kind)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("partition: %s scheme has no partitions", kind)
	}
	if kind == Singleton && len(parts) != 1 {
		return nil, fmt.Errorf("partition: Singleton scheme must have exactly 1 partition, got %d", len(parts))
	}
	s := &Scheme{kind: kind, parts: append([]Info(nil), parts...)}
	ids := make(map[string]int, len(parts))
	for i, p := range s.parts {
		if p.Kind != kind {
			return nil, fmt.Errorf("partition: partition %d (ID %q) is %s, scheme is %s", i, p.ID, p.Kind, kind)
		}
		if p.ID == "" {
			return nil, fmt.Errorf("partition: partition %d has an empty ID", i)
		}
		if j, dup := ids[p.ID]; dup {
			return nil, fmt.Errorf("partition: partitions %d and %d have the same ID %q", j, i, p.ID)
		}
		ids[p.ID] = i
		switch kind {
		case Int64Range:
			if p.LowKey > p.HighKey {
				return nil, fmt.Errorf("partition: partition %q has LowKey %d > HighKey %d", p.ID, p.LowKey, p.HighKey)
			}
		case Named:
			if p.Name == "" {
				return nil, fmt.Errorf("partition: partition %q of a Named scheme has an empty name", p.ID)
			}
		}
	}
	switch kind {
	case Int64Range:
		sort.Slice(s.parts, func(i, j int) bool { return s.parts[i].LowKey < s.parts[j].LowKey })
		s.lows = make([]int64, len(s.parts))
		for i, p := range s.parts {
			s.lows[i] = p.LowKey
			if i > 0 && p.LowKey <= s.parts[i-1].HighKey {
				q := s.parts[i-1]
				return nil, fmt.Errorf("partition: ranges overlap: partition %q [%d..%d] and partition %q [%d..%d]",
					q.ID, q.LowKey, q.HighKey, p.ID, p.LowKey, p.HighKey)
			}
		}
	case Named:
		sort.Slice(s.parts, func(i, j int) bool { return s.parts[i].Name < s.parts[j].Name })
		s.names = make([]string, len(s.parts))
		for i, p := range s.parts {
			s.names[i] = p.Name
			if i > 0 && p.Name == s.parts[i-1].Name {
				return nil, fmt.Errorf("partition: partitions %q and %q have the same name %q", s.parts[i-1].ID, p.ID, p.Name)
			}
		}
	}
	s.fits = s.describe()
	return s, nil
}

// describe lists the scheme's ranges or names, capped to maxListed.
func (s *Scheme) describe() string {
	var b strings.Builder
	n := min(len(s.parts), maxListed)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		p := &s.parts[i]
		switch s.kind {
		case Int64Range:
			fmt.Fprintf(&b, "[%d..%d]", p.LowKey, p.HighKey)
		case Named:
			b.WriteString(strconv.Quote(p.Name))
		case Singleton:
			b.WriteString("singleton")
		}
	}
	if rest := len(s.parts) - n; rest > 0 {
		fmt.Fprintf(&b, ", … (%d more)", rest)
	}
	return b.String()
}

// Kind returns the scheme kind.
func (s *Scheme) Kind() Kind { return s.kind }

// Len returns the number of partitions.
func (s *Scheme) Len() int { return len(s.parts) }

// Partition returns partition i in sorted order, 0 <= i < Len(). The Info is shared and must not
// be modified.
func (s *Scheme) Partition(i int) *Info { return &s.parts[i] }

// Partitions returns all partitions in sorted order. The slice is shared and must not be
// modified.
func (s *Scheme) Partitions() []Info { return s.parts[:len(s.parts):len(s.parts)] }

// IndexOfID returns the index of the partition with the given ID.
func (s *Scheme) IndexOfID(id string) (int, bool) {
	for i := range s.parts {
		if s.parts[i].ID == id {
			return i, true
		}
	}
	return -1, false
}

// ParseKey parses b as a key of this scheme: Int64Range → a decimal int64 (optional leading
// '+' or '-', no spaces); Named → b as a partition name, which must exist; Singleton → b is
// ignored. A successful parse does not allocate (a Named key's Name is the scheme's own string).
func (s *Scheme) ParseKey(b []byte) (Key, error) {
	switch s.kind {
	case Int64Range:
		v, why := parseInt64(b)
		if why != "" {
			return Key{}, s.keyError(ErrNotInteger, string(b), why)
		}
		return Key{Kind: Int64Range, Int: v}, nil
	case Named:
		i, ok := s.searchName(b)
		if !ok {
			return Key{}, s.keyError(ErrUnknownName, string(b), "")
		}
		return Key{Kind: Named, Name: s.names[i]}, nil
	}
	return Key{Kind: Singleton}, nil
}

// Lookup returns the index of the partition holding k.
func (s *Scheme) Lookup(k Key) (int, error) {
	if k.Kind != s.kind {
		return -1, &KeyError{Kind: s.kind, Value: k.String(), Err: ErrKindMismatch,
			Detail: "key is " + k.Kind.String(), Fits: s.fits}
	}
	switch s.kind {
	case Int64Range:
		if i, ok := s.searchInt(k.Int); ok {
			return i, nil
		}
		return -1, s.keyError(ErrOutOfRange, k.String(), "")
	case Named:
		if i, ok := s.searchNameString(k.Name); ok {
			return i, nil
		}
		return -1, s.keyError(ErrUnknownName, k.Name, "")
	}
	return 0, nil
}

// Find parses b as a key of this scheme and returns the index of its partition. It is
// ParseKey followed by Lookup, and does not allocate on success.
func (s *Scheme) Find(b []byte) (int, error) {
	switch s.kind {
	case Int64Range:
		v, why := parseInt64(b)
		if why != "" {
			return -1, s.keyError(ErrNotInteger, string(b), why)
		}
		if i, ok := s.searchInt(v); ok {
			return i, nil
		}
		return -1, s.keyError(ErrOutOfRange, string(b), "")
	case Named:
		if i, ok := s.searchName(b); ok {
			return i, nil
		}
		return -1, s.keyError(ErrUnknownName, string(b), "")
	}
	return 0, nil
}

// Representative returns a key that maps to partition i: its LowKey, its name, or the
// singleton key. The resolver sends it to ResolvePartition on behalf of every key of partition i.
func (s *Scheme) Representative(i int) Key {
	p := &s.parts[i]
	switch s.kind {
	case Int64Range:
		return Key{Kind: Int64Range, Int: p.LowKey}
	case Named:
		return Key{Kind: Named, Name: p.Name}
	}
	return Key{Kind: Singleton}
}

func (s *Scheme) keyError(err error, value, detail string) *KeyError {
	return &KeyError{Kind: s.kind, Value: value, Err: err, Detail: detail, Fits: s.fits}
}

// searchInt finds the partition whose range holds v: the last LowKey <= v, then checks HighKey.
func (s *Scheme) searchInt(v int64) (int, bool) {
	lo, hi := 0, len(s.lows) // invariant: lows[<lo] <= v, lows[>=hi] > v
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.lows[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < 0 || v > s.parts[i].HighKey {
		return -1, false
	}
	return i, true
}

// searchName binary-searches the sorted names for b without converting b to a string.
func (s *Scheme) searchName(b []byte) (int, bool) {
	lo, hi := 0, len(s.names)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compareBytesString(b, s.names[m]); {
		case c == 0:
			return m, true
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1, false
}

func (s *Scheme) searchNameString(name string) (int, bool) {
	i := sort.SearchStrings(s.names, name)
	return i, i < len(s.names) && s.names[i] == name
}

// compareBytesString compares b and s byte-wise like strings.Compare.
func compareBytesString(b []byte, s string) int {
	n := min(len(b), len(s))
	for i := range n {
		if b[i] != s[i] {
			if b[i] < s[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(b) < len(s):
		return -1
	case len(b) > len(s):
		return 1
	}
	return 0
}

// parseInt64 parses a decimal int64 with an optional leading sign, accepting exactly what
// strconv.ParseInt(string(b), 10, 64) accepts. On failure it returns a non-empty reason (a
// constant string or one built only on the error path); on success it does not allocate.
func parseInt64(b []byte) (int64, string) {
	if len(b) == 0 {
		return 0, "empty key"
	}
	neg := false
	digits := b
	switch b[0] {
	case '+':
		digits = b[1:]
	case '-':
		neg = true
		digits = b[1:]
	}
	if len(digits) == 0 {
		return 0, "sign without digits"
	}
	const cutoff = uint64(1) << 63 // |MinInt64|
	var u uint64
	for i, c := range digits {
		if c < '0' || c > '9' {
			off := i + len(b) - len(digits)
			return 0, fmt.Sprintf("unexpected %s at byte %d (want decimal digits with an optional leading + or -)", describeByte(c), off)
		}
		if u > (cutoff-9)/10 && (u > cutoff/10 || u*10+uint64(c-'0') > cutoff) {
			return 0, "overflows int64 (valid: -9223372036854775808..9223372036854775807)"
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		return -int64(u), "" // u == 1<<63 wraps to MinInt64, as intended
	}
	if u > cutoff-1 {
		return 0, "overflows int64 (valid: -9223372036854775808..9223372036854775807)"
	}
	return int64(u), ""
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
