import Mustache

// The Deploy History page's view models read by name instead of by reflection.
//
// Why: swift-mustache looks a `{{name}}` up with `Mirror` unless the value is a `MustacheParent`, and a
// Mirror lookup walks (and boxes) every stored property; a name a row lacks (e.g. `{{failure}}`) is then
// looked up again in each enclosing value. On a 50-row page that was ~90% of the request's time in a
// debug build (benchmarks/ui: ~200 ms a page). A `switch` on the name returns the same values: a
// missing name or a `nil` optional is `nil`, so Mustache climbs the context stack as it did with Mirror.
// `WebViewFieldsTests` checks that every stored property is reachable here, so a field added to one
// of these structs cannot silently render as blank.

extension HistoryRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "pathName": pathName
        case "sequence": sequence
        case "status": status
        case "statusClass": statusClass
        case "isCurrent": isCurrent
        case "time": time
        case "description": description
        case "rollbackOf": rollbackOf
        case "type": type
        case "versions": versions
        case "actor": actor
        case "imageDigest": imageDigest
        case "imageShort": imageShort
        case "dagsDigest": dagsDigest
        case "dagsShort": dagsShort
        case "canRollback": canRollback
        case "reasons": reasons
        default: nil
        }
    }
}

extension HistoryRowsView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "rows": rows
        case "query": query
        default: nil
        }
    }
}

extension TimeView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "iso": iso
        case "absolute": absolute
        case "relative": relative
        default: nil
        }
    }
}

extension RollbackOf: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "from": from
        case "to": to
        default: nil
        }
    }
}

extension DeploymentPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "frame": frame
        case "name": self.name
        case "pathName": pathName
        case "target": target
        case "pinned": pinned
        case "current": current
        case "health": health
        case "components": components
        case "airflowUrl": airflowUrl
        case "dbSchemaHead": dbSchemaHead
        case "rollbackEnabled": rollbackEnabled
        case "rowsHTML": rowsHTML
        case "rangeText": rangeText
        case "previous": previous
        case "next": next
        case "query": query
        case "unpinRefusal": unpinRefusal
        default: nil
        }
    }
}

extension Frame: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "session": session
        case "refreshSeconds": refreshSeconds
        default: nil
        }
    }
}
