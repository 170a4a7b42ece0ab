package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
)

// retrieveTotalRecordCount serves the RetrieveTotalRecordCount function
// (Web API reference: "RetrieveTotalRecordCount Function",
// RetrieveTotalRecordCountResponse, EntityRecordCountCollection):
//
//	GET [Organization URI]/api/data/v9.2/RetrieveTotalRecordCount(EntityNames=@p1)?@p1=["contact","lead"]
//
// answers {"@odata.context": ...RetrieveTotalRecordCountResponse,
// "EntityRecordCountCollection": {"Count", "IsReadOnly": false, "Keys":
// [logical names], "Values": [counts]}}. The service counts from a snapshot
// "from within the last 24 hours" (RetrieveTotalRecordCountRequest); the
// emulator's snapshot is the table as it is now. An unknown table is
// refused as the service refuses an unknown entity name.
func (e *Emulator) retrieveTotalRecordCount(w http.ResponseWriter, r *http.Request, rc *requestContext, seg string) *apiError {
	params, err := functionCall(r, seg, []string{"EntityNames"}, badMetaQuery)
	if err != nil {
		return err
	}
	raw, ok := params["EntityNames"]
	if !ok {
		return errf(http.StatusBadRequest, codeInvalidArgument, "Required parameter 'EntityNames' is missing for RetrieveTotalRecordCount.")
	}
	var names []string
	if err := json.Unmarshal([]byte(strings.ReplaceAll(raw, "'", `"`)), &names); err != nil {
		return errf(http.StatusBadRequest, codeInvalidArgument, "EntityNames must be a collection of entity logical names, like [\"contact\"], not %s.", raw)
	}
	rc.lock()
	defer rc.unlock()
	values := make([]int64, len(names))
	for i, n := range names {
		t, ok := e.st.tables[strings.ToLower(n)]
		if !ok {
			return errf(http.StatusNotFound, codeResourceNotFound, "Could not find an entity with the name %s.", n)
		}
		values[i] = int64(len(t.rows))
	}
	count := jobj{keys: []string{"Count", "IsReadOnly", "Keys", "Values"}, vals: []any{len(names), false, names, values}}
	writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "EntityRecordCountCollection"},
		vals: []any{rc.apiRoot() + "$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse", count}})
	return nil
}
