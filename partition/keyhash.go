package partition

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// KeyHash maps a string partition key to the int64 key of an [Int64Range] service, for services whose
// clients hash a natural key (a customer name, an order number with letters) into the partition range.
// The result must be the number the service's own clients compute: each hash states the .NET code it
// equals (docs/policies.md, "String partition keys"). The zero value, [NoKeyHash], leaves keys as they are.
type KeyHash uint8

// The key hashes. Both read the key's bytes as .NET's Encoding.UTF8.GetBytes gives them for the string
// the key's bytes decode to: valid UTF-8 as it is, an ill-formed part replaced by U+FFFD as .NET replaces
// it ([AppendValidUTF8]).
const (
	NoKeyHash KeyHash = iota
	// MD5Int64 is the first 8 bytes of the key's MD5 digest read as a little-endian int64:
	// BitConverter.ToInt64(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes(key)), 0) on little-endian .NET.
	MD5Int64
	// FNV1a64 is the 64-bit FNV-1a hash of the key's bytes (offset basis 14695981039346656037, prime
	// 1099511628211), its 64 bits read as an int64: (long)h in C# unchecked arithmetic.
	FNV1a64
)

// ParseKeyHash parses a configuration's name for a key hash: "md5-int64" or "fnv1a-64" ("" is NoKeyHash).
func ParseKeyHash(s string) (KeyHash, error) {
	switch s {
	case "":
		return NoKeyHash, nil
	case "md5-int64":
		return MD5Int64, nil
	case "fnv1a-64":
		return FNV1a64, nil
	}
	return NoKeyHash, fmt.Errorf("%q is not a partition key hash: use md5-int64 or fnv1a-64", s)
}

// String returns the configuration's name of the hash.
func (h KeyHash) String() string {
	switch h {
	case MD5Int64:
		return "md5-int64"
	case FNV1a64:
		return "fnv1a-64"
	}
	return ""
}

// Sum returns the int64 key of key, after [AppendValidUTF8] when key is not valid UTF-8. It allocates
// nothing unless key is invalid UTF-8 of more than 256 bytes after the replacement ([KeyHash.AppendKey]
// never allocates for it, past the growth of dst).
func (h KeyHash) Sum(key []byte) int64 {
	if !utf8.Valid(key) {
		var buf [256]byte
		key = AppendValidUTF8(buf[:0], key)
	}
	return h.sum(key)
}

// sum is Sum of a key of valid UTF-8.
func (h KeyHash) sum(key []byte) int64 {
	switch h {
	case MD5Int64:
		d := md5.Sum(key)
		return int64(binary.LittleEndian.Uint64(d[:8]))
	case FNV1a64:
		const offset, prime = 14695981039346656037, 1099511628211
		var v uint64 = offset
		for _, c := range key {
			v ^= uint64(c)
			v *= prime
		}
		return int64(v)
	}
	return 0
}

// AppendKey appends the decimal int64 key of key ([KeyHash.Sum]) to dst: what [Scheme.Find] then reads as
// an Int64Range key. With NoKeyHash it appends key unchanged. A key of invalid UTF-8 is replaced in dst's
// spare capacity, so a dst reused from request to request makes that allocation-free too.
func (h KeyHash) AppendKey(dst, key []byte) []byte {
	if h == NoKeyHash {
		return append(dst, key...)
	}
	if utf8.Valid(key) {
		return strconv.AppendInt(dst, h.sum(key), 10)
	}
	n := len(dst)
	dst = AppendValidUTF8(dst, key) // dst[n:] is the replaced key; the number overwrites it
	return strconv.AppendInt(dst[:n], h.sum(dst[n:]), 10)
}
