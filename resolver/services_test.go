package resolver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

func TestListServicesOfFakeCluster(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	got, err := r.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []resolver.ServiceInfo{
		{Name: "fabric:/Catalog/Products", Application: "fabric:/Catalog", TypeName: "ProductsType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Carts", Application: "fabric:/Shop", TypeName: "CartsType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Orders", Application: "fabric:/Shop", TypeName: "OrdersType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Web", Application: "fabric:/Shop", TypeName: "WebType", Kind: "Stateless"},
	}
	slices.SortFunc(got, func(a, b resolver.ServiceInfo) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, want) {
		t.Errorf("ListServices:\n got %+v\nwant %+v", got, want)
	}
	if err := c.DeleteService("fabric:/Shop/Web"); err != nil {
		t.Fatal(err)
	}
	got, err = r.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || slices.ContainsFunc(got, func(s resolver.ServiceInfo) bool { return s.Name == "fabric:/Shop/Web" }) {
		t.Errorf("after deleting fabric:/Shop/Web: %+v", got)
	}
}

// TestListServicesFollowsContinuationTokens: both lists come in two pages; every page's token is sent back
// verbatim and every item is kept.
func TestListServicesFollowsContinuationTokens(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("ContinuationToken")
		seen = append(seen, r.URL.Path+"?"+tok)
		switch r.URL.Path + "|" + tok {
		case "/Applications|":
			fmt.Fprint(w, `{"ContinuationToken":"fabric:/A","Items":[{"Id":"A","Name":"fabric:/A"}]}`)
		case "/Applications|fabric:/A":
			fmt.Fprint(w, `{"ContinuationToken":"","Items":[{"Id":"B~C","Name":"fabric:/B/C"}]}`)
		case "/Applications/A/$/GetServices|":
			fmt.Fprint(w, `{"ContinuationToken":"t1","Items":[{"Name":"fabric:/A/x","TypeName":"X","ServiceKind":"Stateless"}]}`)
		case "/Applications/A/$/GetServices|t1":
			fmt.Fprint(w, `{"ContinuationToken":"","Items":[{"Name":"fabric:/A/y","TypeName":"Y","ServiceKind":"Stateful"}]}`)
		case "/Applications/B~C/$/GetServices|":
			fmt.Fprint(w, `{"Items":[{"Name":"fabric:/B/C/z","TypeName":"Z","ServiceKind":"Stateful"}]}`)
		default:
			http.Error(w, `{"Error":{"Code":"E_INVALIDARG","Message":"unexpected"}}`, 400)
		}
	}))
	defer srv.Close()
	r, _ := newResolver(t, []string{srv.URL}, nil)
	got, err := r.ListServices(context.Background())
	if err != nil {
		t.Fatalf("%v (requests %v)", err, seen)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Application+" "+s.Name+" "+s.Kind)
	}
	want := []string{"fabric:/A fabric:/A/x Stateless", "fabric:/A fabric:/A/y Stateful", "fabric:/B/C fabric:/B/C/z Stateful"}
	if !slices.Equal(names, want) {
		t.Errorf("got %q, want %q (requests %v)", names, want, seen)
	}
}
