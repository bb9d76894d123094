package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// syntheticNaming is a minimal SF naming endpoint for one Int64Range service of n single-key partitions
// (partition i holds key i), used only by the scale section when n is beyond what fakesf can host: fakesf opens
// a real listener per replica, and this machine allows 20,000 file descriptors. It answers GetPartitions
// (paged, 1,000 per page) and ResolvePartition in SF's wire format (SF REST API reference:
// Get Partition Info List, Resolve Partition); each
// partition's single primary publishes an address that nobody connects to.
type syntheticNaming struct {
	service string // fabric:/App/Svc
	n       int
	srv     *http.Server
	url     string
	resolve atomic.Int64 // ResolvePartition calls answered
}

const syntheticPageSize = 1000

func startSyntheticNaming(service string, n int) (*syntheticNaming, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("synthetic naming server: %w", err)
	}
	s := &syntheticNaming{service: service, n: n, url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: s}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *syntheticNaming) Close() error { return s.srv.Close() }

func (s *syntheticNaming) partitionID(i int) string {
	return fmt.Sprintf("5ca1ab1e-0000-4000-8000-%012x", i)
}

func (s *syntheticNaming) info(i int) map[string]string {
	k := strconv.Itoa(i)
	return map[string]string{"ServicePartitionKind": "Int64Range", "Id": s.partitionID(i), "LowKey": k, "HighKey": k}
}

func (s *syntheticNaming) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strings.ReplaceAll(strings.TrimPrefix(s.service, "fabric:/"), "/", "~")
	q := r.URL.Query()
	switch r.URL.Path {
	case "/Services/" + id + "/$/GetPartitions":
		start := 0
		if tok := q.Get("ContinuationToken"); tok != "" {
			v, err := strconv.Atoi(tok)
			if err != nil || v < 0 || v > s.n {
				s.fail(w, http.StatusBadRequest, "E_INVALIDARG", "bad ContinuationToken")
				return
			}
			start = v
		}
		end := min(start+syntheticPageSize, s.n)
		type item struct {
			ServiceKind          string
			PartitionInformation map[string]string
		}
		page := struct {
			ContinuationToken string
			Items             []item
		}{}
		for i := start; i < end; i++ {
			page.Items = append(page.Items, item{"Stateful", s.info(i)})
		}
		if end < s.n {
			page.ContinuationToken = strconv.Itoa(end)
		}
		s.write(w, page)
	case "/Services/" + id + "/$/ResolvePartition":
		k, err := strconv.Atoi(q.Get("PartitionKeyValue"))
		if q.Get("PartitionKeyType") != "2" || err != nil || k < 0 || k >= s.n {
			s.fail(w, http.StatusBadRequest, "FABRIC_E_INVALID_PARTITION_KEY", "key outside [0, n)")
			return
		}
		s.resolve.Add(1)
		pid := s.partitionID(k)
		addr, _ := json.Marshal(map[string]map[string]string{"Endpoints": {"": "http://127.0.0.2:1/" + pid + "/1"}})
		version := url.QueryEscape(fmt.Sprintf(`{"PartitionId":"%s","FMVersion":"1","StoreVersion":"1","GenerationNumber":{"Generation":"1","NodeId":{"Id":"1"}}}`, pid))
		s.write(w, map[string]any{
			"Name":                 s.service,
			"PartitionInformation": s.info(k),
			"Endpoints":            []map[string]string{{"Kind": "StatefulPrimary", "Address": string(addr)}},
			"Version":              version,
		})
	default:
		s.fail(w, http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "unknown path "+r.URL.Path)
	}
}

func (s *syntheticNaming) write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *syntheticNaming) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"Error": {"Code": code, "Message": msg}})
}
