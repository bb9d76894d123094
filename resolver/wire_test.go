package resolver

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeResolvedInt64Range(t *testing.T) {
	s, err := decodeResolved(readTestdata(t, "resolve_int64range.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := partition.Info{ID: "8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00", Kind: partition.Int64Range, LowKey: 0, HighKey: 4611686018427387903}
	if s.Partition != want {
		t.Errorf("Partition = %+v, want %+v", s.Partition, want)
	}
	if s.Service != "fabric:/Shop/Orders" {
		t.Errorf("Service = %q", s.Service)
	}
	if !strings.HasPrefix(s.Version, "%7B%22PartitionId%22:") || strings.Contains(s.Version, "{") {
		t.Errorf("Version was not kept verbatim: %q", s.Version)
	}
	url, r, err := s.Replicas.Select(listener.ReplicaPrimary, "")
	if err != nil {
		t.Fatal(err)
	}
	if url != "http://10.0.0.4:20012/8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00/133512345678901235" || r.Role != listener.Primary {
		t.Errorf("Select(primary) = %q, %v", url, r.Role)
	}
	if n := len(s.Replicas.Replicas()); n != 3 {
		t.Errorf("%d replicas, want 3", n)
	}
}

func TestDecodeResolvedSkipsUnknownKindKeepsBadAddress(t *testing.T) {
	s, err := decodeResolved(readTestdata(t, "resolve_singleton_stateless.json"))
	if err != nil {
		t.Fatal(err)
	}
	reps := s.Replicas.Replicas()
	if len(reps) != 3 {
		t.Fatalf("%d replicas, want 3 (Invalid kind skipped, malformed address kept)", len(reps))
	}
	if reps[2].Listeners.Len() != 0 || reps[2].Address != `{"Endpoints":` {
		t.Errorf("malformed address replica = %+v, want raw address and no listeners", reps[2])
	}
	url, _, err := s.Replicas.Select(listener.Default, "Admin")
	if err != nil || !strings.HasPrefix(url, "https://10.0.0.") {
		t.Errorf("Select(Admin) = %q, %v", url, err)
	}
}

func TestDecodeResolvedErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `<html>`, "decode ResolvedServicePartition"},
		{"no version", `{"PartitionInformation":{"ServicePartitionKind":"Singleton","Id":"x"}}`, "Version is missing"},
		{"bad kind", `{"Version":"v","PartitionInformation":{"ServicePartitionKind":"Hash","Id":"x"}}`, "ServicePartitionKind"},
		{"no id", `{"Version":"v","PartitionInformation":{"ServicePartitionKind":"Singleton"}}`, "Id is empty"},
		{"bad int", `{"Version":"v","PartitionInformation":{"ServicePartitionKind":"Int64Range","Id":"x","LowKey":"1e3"}}`, "int64 field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeResolved([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodeResolved(%s) error = %v, want it to mention %q", tc.body, err, tc.want)
			}
		})
	}
}

func TestDecodePartitionPage(t *testing.T) {
	infos, token, err := decodePartitionPage(readTestdata(t, "partitions_int64range.json"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" || len(infos) != 2 || infos[1].LowKey != 4611686018427387904 || infos[1].HighKey != 9223372036854775807 {
		t.Errorf("got %+v token %q", infos, token)
	}
	if _, err := partition.NewScheme(partition.Int64Range, infos); err != nil {
		t.Errorf("NewScheme: %v", err)
	}
	infos, token, err = decodePartitionPage(readTestdata(t, "partitions_named_page.json"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "c3e9a0b1-7d2f-4a6e-8b5c-1f0e9d8c7b6a" || len(infos) != 1 || infos[0].Name != "eu" || infos[0].Kind != partition.Named {
		t.Errorf("got %+v token %q", infos, token)
	}
}

func TestDecodeError(t *testing.T) {
	fe := decodeError(404, []byte(`{"Error":{"Code":"FABRIC_E_SERVICE_DOES_NOT_EXIST","Message":"Service does not exist."}}`), "http://n0:19080")
	if !errors.Is(fe, ErrServiceNotFound) || fe.Code != "FABRIC_E_SERVICE_DOES_NOT_EXIST" {
		t.Errorf("got %#v", fe)
	}
	if want := "service fabric http://n0:19080: 404 FABRIC_E_SERVICE_DOES_NOT_EXIST: Service does not exist."; fe.Error() != want {
		t.Errorf("Error() = %q, want %q", fe.Error(), want)
	}
	fe = decodeError(403, nil, "https://n0:19080")
	if !errors.Is(fe, ErrUnauthorized) || fe.Code != "" || !strings.Contains(fe.Error(), "credential rejected") {
		t.Errorf("403 empty body: %v", fe)
	}
	fe = decodeError(502, []byte("Bad Gateway from a proxy"), "http://n0:19080")
	if fe.Message != "Bad Gateway from a proxy" || !fe.transient() {
		t.Errorf("non-JSON body: %#v", fe)
	}
}

func TestFabricErrorIs(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{404, "FABRIC_E_SERVICE_DOES_NOT_EXIST", ErrServiceNotFound},
		{404, "FABRIC_E_NAME_DOES_NOT_EXIST", ErrServiceNotFound},
		{404, "FABRIC_E_APPLICATION_NOT_FOUND", ErrServiceNotFound},
		{400, "FABRIC_E_INVALID_PARTITION_KEY", ErrInvalidPartitionKey},
		{504, "FABRIC_E_TIMEOUT", ErrTimeout},
		{504, "", ErrTimeout},
		{503, "FABRIC_E_NOT_READY", ErrNotReady},
		{503, "FABRIC_E_SERVICE_OFFLINE", ErrNotReady},
		{503, "FABRIC_E_RECONFIGURATION_PENDING", ErrNotReady},
		{503, "E_ABORT", ErrNotReady},
		{403, "", ErrUnauthorized},
		{403, "E_ACCESSDENIED", ErrUnauthorized},
	} {
		fe := &FabricError{Status: tc.status, Code: tc.code}
		if !errors.Is(fe, tc.want) {
			t.Errorf("errors.Is(%d %s, %v) = false", tc.status, tc.code, tc.want)
		}
		for _, other := range []error{ErrServiceNotFound, ErrInvalidPartitionKey, ErrTimeout, ErrNotReady, ErrUnauthorized} {
			if other != tc.want && errors.Is(fe, other) {
				t.Errorf("errors.Is(%d %s, %v) = true", tc.status, tc.code, other)
			}
		}
	}
	unknown := &FabricError{Status: 409, Code: "FABRIC_E_SERVICE_METADATA_MISMATCH", Message: "m"}
	var fe *FabricError
	if !errors.As(error(unknown), &fe) || fe.Code != "FABRIC_E_SERVICE_METADATA_MISMATCH" {
		t.Errorf("unknown code lost")
	}
}

func TestServiceID(t *testing.T) {
	for _, tc := range []struct{ in, want, wantErr string }{
		{"fabric:/App/Svc", "App~Svc", ""},
		{"fabric:/myapp/app1/svc1", "myapp~app1~svc1", ""},
		{"fabric:/App/My Svc", "App~My%20Svc", ""},
		{"App/Svc", "", "must start with fabric:/"},
		{"fabric:/", "", "no application"},
		{"fabric:/App//Svc", "", "empty segment"},
		{"fabric:/App/S~x", "", "'~'"},
	} {
		got, err := serviceID(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("serviceID(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("serviceID(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckRawQueryValue(t *testing.T) {
	if err := checkRawQueryValue("v", "%7B%22PartitionId%22:%22x%22%7D"); err != nil {
		t.Errorf("SF version rejected: %v", err)
	}
	for _, bad := range []string{"a b", "a&b", "a=b", "a#b", "a\nb"} {
		if err := checkRawQueryValue("partition name", bad); err == nil {
			t.Errorf("checkRawQueryValue(%q) = nil, want an error", bad)
		}
	}
}

// FuzzDecodeResolved: the ResolvePartition answer comes from the network; decoding never panics, and a
// successful decode yields a usable snapshot.
func FuzzDecodeResolved(f *testing.F) {
	f.Add(readTestdata(f, "resolve_int64range.json"))
	f.Add(readTestdata(f, "resolve_singleton_stateless.json"))
	f.Add([]byte(`{"Name":"fabric:/A/B","PartitionInformation":{"ServicePartitionKind":"Named","Id":"p","Name":"n"},"Endpoints":[{"Kind":"StatefulPrimary","Address":"http://x:1"}],"Version":"v"}`))
	f.Add([]byte(`{"Version":"v","PartitionInformation":{"ServicePartitionKind":"Int64Range","Id":"p","LowKey":5,"HighKey":"-9223372036854775808"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := decodeResolved(body)
		if err != nil {
			return
		}
		if s.Version == "" || s.Partition.ID == "" || s.Replicas == nil {
			t.Fatalf("decoded an unusable snapshot: %+v", s)
		}
		_, _, _ = s.Replicas.Select(listener.Default, "")
	})
}

// FuzzDecodePartitionPage: a GetPartitions page never panics the decoder.
func FuzzDecodePartitionPage(f *testing.F) {
	f.Add(readTestdata(f, "partitions_int64range.json"))
	f.Add(readTestdata(f, "partitions_named_page.json"))
	f.Add([]byte(`{"ContinuationToken":"","Items":[{"PartitionInformation":{"ServicePartitionKind":"Singleton","Id":"x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		infos, _, err := decodePartitionPage(body)
		if err != nil {
			return
		}
		for _, in := range infos {
			if in.ID == "" {
				t.Fatalf("partition without ID: %+v", in)
			}
		}
		if len(infos) > 0 {
			_, _ = partition.NewScheme(infos[0].Kind, infos)
		}
	})
}
