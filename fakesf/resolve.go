package fakesf

import (
	"net/http"
	"strconv"
	"time"
)

// droppedPieces explains why a parameter that seems to be in the query may not count.
const droppedPieces = "as in SF, a query piece with an empty value or with more than one '=' is ignored"

// resolvePartition serves GET /Services/{serviceId}/$/ResolvePartition (docs/servicefabric.md §2).
func (c *Cluster) resolvePartition(q *request) result {
	var prev *parsedVersion
	if raw, present := q.query["PreviousRspVersion"]; present {
		v, err := parseVersion(raw)
		if err != nil {
			return fail(invalidArg("%v", err))
		}
		prev = &v
	}
	keyType := 1
	if raw, present := q.query["PartitionKeyType"]; present {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 3 {
			return fail(invalidArg("PartitionKeyType %q must be 1 (none), 2 (Int64) or 3 (Named)", raw))
		}
		keyType = n
	}
	keyValue, hasValue := q.query["PartitionKeyValue"]
	var intKey int64
	if keyType == 2 {
		n, err := strconv.ParseInt(keyValue, 10, 64)
		if !hasValue {
			return fail(invalidArg("PartitionKeyValue is required with PartitionKeyType=2 (%s)", droppedPieces))
		}
		if err != nil {
			return fail(invalidArg("PartitionKeyValue %q is not a decimal int64 (PartitionKeyType=2)", keyValue))
		}
		intKey = n
	}
	if keyType == 3 && !hasValue {
		return fail(invalidArg("PartitionKeyValue is required with PartitionKeyType=3 (%s)", droppedPieces))
	}

	c.mu.Lock()
	s, ferr := c.serviceByVar(q, "svc")
	if ferr != nil {
		c.mu.Unlock()
		return fail(ferr)
	}
	p, ferr := s.lookup(keyType, intKey, keyValue)
	if ferr != nil {
		c.mu.Unlock()
		return fail(ferr)
	}
	if prev != nil {
		p.prevCalls.Add(1)
	} else {
		p.plainCalls.Add(1)
	}
	res := c.answer(p, prev)
	info := p.information()
	delay := c.resolveDelay
	c.mu.Unlock()

	if delay > 0 {
		timeout := q.timeout()
		t := time.NewTimer(min(delay, timeout))
		select {
		case <-t.C:
		case <-q.r.Context().Done():
			t.Stop()
			return fail(fabricErr(http.StatusGatewayTimeout, "FABRIC_E_TIMEOUT", "request cancelled"))
		case <-c.closed:
			t.Stop()
			return fail(fabricErr(http.StatusServiceUnavailable, "FABRIC_E_SERVICE_OFFLINE", "cluster is shutting down"))
		}
		if delay > timeout {
			return fail(fabricErr(http.StatusGatewayTimeout, "FABRIC_E_TIMEOUT", "Operation timed out."))
		}
	}
	return ok(resolvedPartitionJSON{Name: s.Name, PartitionInformation: info, Endpoints: res.endpoints, Version: res.version})
}

// lookup maps a ResolvePartition key to a partition; a key of the wrong kind or outside every partition is
// FABRIC_E_INVALID_PARTITION_KEY, as naming answers.
func (s *service) lookup(keyType int, intKey int64, name string) (*partition, *FabricError) {
	invalid := func(format string, args ...any) *FabricError {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_PARTITION_KEY", format, args...)
	}
	switch {
	case keyType == 1 && s.Scheme == Singleton:
		return s.partitions[0], nil
	case keyType == 2 && s.Scheme == Int64Range:
		for _, p := range s.partitions {
			if intKey >= p.low && intKey <= p.high {
				return p, nil
			}
		}
		return nil, invalid("key %d is outside the partition ranges of %s [%d, %d]", intKey, s.Name, s.LowKey, s.HighKey)
	case keyType == 3 && s.Scheme == Named:
		for _, p := range s.partitions {
			if p.name == name {
				return p, nil
			}
		}
		return nil, invalid("%s has no partition named %q", s.Name, name)
	}
	return nil, invalid("PartitionKeyType %d does not match the %s partition scheme of %s", keyType, s.Scheme, s.Name)
}
