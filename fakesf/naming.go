package fakesf

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

type endpointJSON struct {
	Kind    string `json:"Kind"`
	Address string `json:"Address"`
}

// resolve builds p's current ResolvePartition answer: stateful → the primary first (if one is up), then live
// secondaries; stateless → every live instance. Caller holds mu.
func (c *Cluster) resolve(p *partition) *resolution {
	res := &resolution{partitionID: p.id, generation: c.generation, fmVersion: p.fmVersion, endpoints: []endpointJSON{}}
	if prim := p.primary(); prim != nil {
		res.endpoints = append(res.endpoints, endpointJSON{Kind: "StatefulPrimary", Address: prim.address()})
	}
	for _, r := range p.replicas {
		if r.down || !r.node.up {
			continue
		}
		switch r.role {
		case roleSecondary:
			res.endpoints = append(res.endpoints, endpointJSON{Kind: "StatefulSecondary", Address: r.address()})
		case roleStateless:
			res.endpoints = append(res.endpoints, endpointJSON{Kind: "Stateless", Address: r.address()})
		}
	}
	res.version = encodeVersion(versionJSON{
		PartitionID:  p.id,
		FMVersion:    strconv.FormatInt(p.fmVersion, 10),
		StoreVersion: strconv.FormatInt(p.store, 10),
		Generation: generationJSON{
			Generation: strconv.FormatInt(c.generation, 10),
			NodeID:     nodeIDJSON{ID: c.nodes[0].id},
		},
	})
	return res
}

// address is the replica's published Address: {"Endpoints":{"<listener>":"<url>",...}} with SF's \/ escapes, or
// "" when its listeners are closed.
func (r *replica) address() string {
	if len(r.servers) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`{"Endpoints":{`)
	for i, s := range r.servers {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := marshalSF(s.listener)
		u, _ := marshalSF(s.url)
		b.WriteString(escapeSlashes(string(name)))
		b.WriteByte(':')
		b.WriteString(escapeSlashes(string(u)))
	}
	b.WriteString(`}}`)
	return b.String()
}

// escapeSlashes writes '/' as '\/' inside JSON text, as SF's JSON writer does. Valid only for JSON text, where
// '/' can occur only inside strings.
func escapeSlashes(js string) string { return strings.ReplaceAll(js, "/", `\/`) }

type versionJSON struct {
	PartitionID  string         `json:"PartitionId"`
	FMVersion    string         `json:"FMVersion"`
	StoreVersion string         `json:"StoreVersion"`
	Generation   generationJSON `json:"GenerationNumber"`
}

type generationJSON struct {
	Generation string     `json:"Generation"`
	NodeID     nodeIDJSON `json:"NodeId"`
}

type nodeIDJSON struct {
	ID string `json:"Id"`
}

// versionEscapes are the characters SF's gateway URL-escapes in the serialised Version.
const versionEscapes = "{}\"[]&^`|<>\\ "

func encodeVersion(v versionJSON) string {
	js, _ := marshalSF(v)
	var b strings.Builder
	for _, ch := range js {
		if strings.IndexByte(versionEscapes, ch) >= 0 {
			fmt.Fprintf(&b, "%%%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// parsedVersion is a PreviousRspVersion as the gateway reads it.
type parsedVersion struct {
	partitionID string
	generation  int64
	fmVersion   int64
}

// parseVersion unescapes raw once and parses the JSON, as SF's handler does for PreviousRspVersion.
func parseVersion(raw string) (parsedVersion, error) {
	s, err := url.PathUnescape(raw)
	if err != nil {
		return parsedVersion{}, fmt.Errorf("PreviousRspVersion is not validly escaped: %w", err)
	}
	var v versionJSON
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&v); err != nil {
		return parsedVersion{}, fmt.Errorf("PreviousRspVersion is not a version document: %w", err)
	}
	if dec.More() {
		return parsedVersion{}, errors.New("PreviousRspVersion has trailing data after the version document")
	}
	gen, err1 := strconv.ParseInt(v.Generation.Generation, 10, 64)
	fm, err2 := strconv.ParseInt(v.FMVersion, 10, 64)
	if v.PartitionID == "" || err1 != nil || err2 != nil {
		return parsedVersion{}, errors.New("PreviousRspVersion lacks PartitionId, FMVersion or GenerationNumber.Generation")
	}
	return parsedVersion{partitionID: strings.ToLower(v.PartitionID), generation: gen, fmVersion: fm}, nil
}

// newerThan reports whether r is newer than v by (Generation, FMVersion).
func (r *resolution) newerThan(v parsedVersion) bool {
	if r.generation != v.generation {
		return r.generation > v.generation
	}
	return r.fmVersion > v.fmVersion
}

// NamingCache simulates the naming gateway's own resolution cache.
type NamingCache struct {
	// Stale on: ResolvePartition without PreviousRspVersion answers from a per-partition cache filled on first
	// use, so it keeps returning the pre-reconfiguration endpoints. A PreviousRspVersion complaint whose version
	// is not older than the cached entry refreshes it (SF rule: a cached entry newer than the complaint is
	// returned as is; otherwise the entry is refreshed and the current data returned).
	Stale bool
	// MaxAge > 0 also refreshes an entry older than this. 0: entries live until a complaint.
	MaxAge time.Duration
}

// answer answers ResolvePartition for p with the cache rules. prev is nil without PreviousRspVersion. Caller
// holds mu.
func (c *Cluster) answer(p *partition, prev *parsedVersion) *resolution {
	if !c.naming.Stale {
		return p.current
	}
	now := c.now()
	if p.cached == nil || (c.naming.MaxAge > 0 && now.Sub(p.cachedAt) >= c.naming.MaxAge) {
		p.cached, p.cachedAt = p.current, now
	}
	if prev == nil {
		return p.cached
	}
	if prev.partitionID == p.id && p.cached.newerThan(*prev) {
		return p.cached
	}
	p.cached, p.cachedAt = p.current, now
	return p.current
}

// NamingFault makes management calls fail (see Cluster.SetNamingFault).
type NamingFault struct {
	Status  int    // HTTP status, e.g. 503 or 504; 0 with Drop false = no fault
	Code    string // FabricError code, e.g. FABRIC_E_SERVICE_OFFLINE or FABRIC_E_TIMEOUT
	Message string // optional
	Drop    bool   // close the connection without a response instead
	Count   int    // how many calls fail; 0 = until cleared
	// AllRoutes applies the fault to every management call; by default only ResolvePartition fails.
	AllRoutes bool
}

// ReplicaFault makes a replica misbehave (see Cluster.SetReplicaFault).
type ReplicaFault struct {
	Status int           // answer with this status (with the usual JSON body); 0 = 200
	Delay  time.Duration // wait this long before answering (or dropping)
	Drop   bool          // close the connection without a response
	// DropAfter, with Drop, first reads this many bytes of the request body (or all of a shorter one), so that a
	// test knows how much of a streamed body had left the client when the connection was dropped.
	DropAfter int64
	// CutAnswerAfter cuts an X-Fakesf-Body-Bytes answer (streams.go): the connection is closed after this many
	// bytes of its body, as a replica that fails mid-answer.
	CutAnswerAfter int64
	Count          int // how many requests are affected; 0 = until cleared
	// Header is added to the faulty answer, e.g. {"X-ServiceFabric": "ResourceNotFound"} with Status 404 (the
	// reverse proxy's "real 404, do not re-resolve" marker).
	Header map[string]string
}
