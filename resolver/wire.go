package resolver

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
)

// Wire shapes of the SF HTTP gateway (docs/servicefabric.md §2, §5, §6). Only the fields the resolver
// uses are declared; unknown fields are ignored, as SF adds fields across versions. The exported ones are
// also what "sfgate resolve -o json" prints.

// ResolvedServicePartition is SF's answer to ResolvePartition.
type ResolvedServicePartition struct {
	Name                 string
	PartitionInformation PartitionInformation
	Endpoints            []ResolvedEndpoint
	Version              string
}

// PartitionInformation is SF's description of one partition: its kind and ID, and its key range
// (Int64Range) or name (Named). It encodes as SF writes it: only the fields of its kind.
type PartitionInformation struct {
	ServicePartitionKind string
	ID                   string `json:"Id"`
	LowKey               Int64String
	HighKey              Int64String
	Name                 string
}

// MarshalJSON writes the fields of p's kind only, as SF does.
func (p PartitionInformation) MarshalJSON() ([]byte, error) {
	type common struct {
		ServicePartitionKind string
		ID                   string `json:"Id"`
	}
	c := common{p.ServicePartitionKind, p.ID}
	switch p.ServicePartitionKind {
	case partition.Int64Range.String():
		return json.Marshal(struct {
			common
			LowKey, HighKey Int64String
		}{c, p.LowKey, p.HighKey})
	case partition.Named.String():
		return json.Marshal(struct {
			common
			Name string
		}{c, p.Name})
	}
	return json.Marshal(c)
}

// ResolvedEndpoint is one replica or instance of a ResolvedServicePartition: its role (Kind) and its
// Address, a JSON document of listener names and URLs in a string.
type ResolvedEndpoint struct {
	Kind    string
	Address string
}

type wirePartitionPage struct {
	ContinuationToken string
	Items             []struct {
		PartitionInformation PartitionInformation
	}
}

type wireError struct {
	Error struct {
		Code    string
		Message string
	}
}

// Int64String is SF's int64 written as a JSON string; a bare number is accepted too.
type Int64String int64

// MarshalJSON writes v as a JSON string, as SF does.
func (v Int64String) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(v), 10)), nil
}

// UnmarshalJSON reads a JSON string or number holding an int64; null leaves v unchanged.
func (v *Int64String) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("int64 field %s: %w", b, err)
	}
	*v = Int64String(n)
	return nil
}

// partitionInformation is the wire form of info.
func partitionInformation(info partition.Info) PartitionInformation {
	w := PartitionInformation{ServicePartitionKind: info.Kind.String(), ID: info.ID}
	switch info.Kind {
	case partition.Int64Range:
		w.LowKey, w.HighKey = Int64String(info.LowKey), Int64String(info.HighKey)
	case partition.Named:
		w.Name = info.Name
	}
	return w
}

// info converts PartitionInformation into a partition.Info.
func (w *PartitionInformation) info() (partition.Info, error) {
	kind, err := partition.ParseKind(w.ServicePartitionKind)
	if err != nil {
		return partition.Info{}, fmt.Errorf("PartitionInformation.ServicePartitionKind: %w", err)
	}
	if w.ID == "" {
		return partition.Info{}, fmt.Errorf("PartitionInformation.Id is empty")
	}
	info := partition.Info{ID: w.ID, Kind: kind}
	switch kind {
	case partition.Int64Range:
		info.LowKey, info.HighKey = int64(w.LowKey), int64(w.HighKey)
	case partition.Named:
		info.Name = w.Name
	}
	return info, nil
}

// decodeResolved parses a ResolvePartition answer into a Snapshot (Resolved and Service left to the caller).
// A replica whose Kind is unknown is skipped; one whose Address does not parse keeps its raw Address with
// no listeners, so one bad replica never hides the others.
func decodeResolved(body []byte) (*Snapshot, error) {
	var w ResolvedServicePartition
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode ResolvedServicePartition: %w", err)
	}
	if w.Version == "" {
		return nil, fmt.Errorf("decode ResolvedServicePartition: Version is missing")
	}
	info, err := w.PartitionInformation.info()
	if err != nil {
		return nil, fmt.Errorf("decode ResolvedServicePartition: %w", err)
	}
	replicas := make([]listener.Replica, 0, len(w.Endpoints))
	for _, ep := range w.Endpoints {
		rep, err := listener.ParseReplica(ep.Kind, ep.Address)
		if err != nil && rep.Role == 0 {
			continue // unknown Kind ("Invalid"): not routable
		}
		replicas = append(replicas, rep) // a malformed Address leaves the replica without listeners
	}
	return &Snapshot{
		Service:   w.Name,
		Partition: info,
		Version:   w.Version,
		Replicas:  listener.NewSet(replicas),
		version:   parseVersion(w.Version),
		stopTimer: noTimer,
	}, nil
}

// ResolvedServicePartition returns s in SF's wire shape: the endpoints in SF's order with their raw Address
// strings, and the Version verbatim.
func (s *Snapshot) ResolvedServicePartition() ResolvedServicePartition {
	out := ResolvedServicePartition{
		Name:                 s.Service,
		PartitionInformation: partitionInformation(s.Partition),
		Endpoints:            []ResolvedEndpoint{},
		Version:              s.Version,
	}
	for _, r := range s.Replicas.Replicas() {
		out.Endpoints = append(out.Endpoints, ResolvedEndpoint{Kind: r.Role.String(), Address: r.Address})
	}
	return out
}

// decodePartitionPage parses one GetPartitions page.
func decodePartitionPage(body []byte) ([]partition.Info, string, error) {
	var w wirePartitionPage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, "", fmt.Errorf("decode PagedServicePartitionInfoList: %w", err)
	}
	infos := make([]partition.Info, 0, len(w.Items))
	for i := range w.Items {
		info, err := w.Items[i].PartitionInformation.info()
		if err != nil {
			return nil, "", fmt.Errorf("decode PagedServicePartitionInfoList: Items[%d]: %w", i, err)
		}
		infos = append(infos, info)
	}
	return infos, w.ContinuationToken, nil
}

// decodeError turns a non-2xx answer into a *FabricError.
func decodeError(status int, body []byte, endpoint string) *FabricError {
	fe := &FabricError{Status: status, Endpoint: endpoint}
	var w wireError
	if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &w) == nil {
		fe.Code, fe.Message = w.Error.Code, w.Error.Message
	} else if len(body) > 0 {
		fe.Message = truncate(strings.TrimSpace(string(body)), 200)
	}
	return fe
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// serviceID turns "fabric:/App/Svc" into the path ID "App~Svc" (docs/servicefabric.md §1), escaping each
// segment. It rejects names that cannot be addressed through REST.
func serviceID(service string) (string, error) {
	rest, ok := strings.CutPrefix(service, "fabric:/")
	if !ok {
		return "", fmt.Errorf("service name %q must start with fabric:/ (e.g. fabric:/App/Svc)", service)
	}
	if rest == "" {
		return "", fmt.Errorf("service name %q has no application or service segment", service)
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		if seg == "" {
			return "", fmt.Errorf("service name %q has an empty segment", service)
		}
		if strings.Contains(seg, "~") {
			return "", fmt.Errorf("service name %q contains '~', which the SF REST API cannot address", service)
		}
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "~"), nil
}

// version is the decoded ordering key of an SF Version string (docs/servicefabric.md §2): SF serialises
// {"PartitionId","FMVersion","StoreVersion","GenerationNumber":{"Generation","NodeId"}} and URL-escapes it.
// The string itself always travels verbatim; this decoded form is only used to order two answers.
type version struct {
	partitionID string
	generation  int64
	fmVersion   int64
	ok          bool // the string decoded; otherwise versions are opaque and only compared for equality
}

// parseVersion decodes an SF Version string. A string that is not SF's escaped JSON yields ok = false.
func parseVersion(raw string) version {
	s, err := url.PathUnescape(raw)
	if err != nil {
		return version{}
	}
	var w struct {
		PartitionID      string       `json:"PartitionId"`
		FMVersion        *Int64String `json:"FMVersion"`
		GenerationNumber struct {
			Generation *Int64String
		}
	}
	if json.Unmarshal([]byte(s), &w) != nil || w.PartitionID == "" || w.FMVersion == nil || w.GenerationNumber.Generation == nil {
		return version{}
	}
	return version{partitionID: w.PartitionID, generation: int64(*w.GenerationNumber.Generation), fmVersion: int64(*w.FMVersion), ok: true}
}

// compare orders a against b by (Generation, FMVersion), as SF's gateway does: -1 older, 0 same, +1 newer.
// ok is false when either version is opaque or they belong to different partitions (service re-created).
func (a version) compare(b version) (order int, ok bool) {
	if !a.ok || !b.ok || !strings.EqualFold(a.partitionID, b.partitionID) {
		return 0, false
	}
	if a.generation != b.generation {
		return cmp.Compare(a.generation, b.generation), true
	}
	return cmp.Compare(a.fmVersion, b.fmVersion), true
}
