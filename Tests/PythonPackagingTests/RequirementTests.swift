import Testing
@testable import PythonPackaging

@Suite struct RequirementTests {
    @Test func simplePin() throws {
        let r = try Requirement(parsing: "Apache_Airflow==2.10.5")
        #expect(r.name.raw == "Apache_Airflow")
        #expect(r.name.normalized == "apache-airflow")
        #expect(r.extras.isEmpty)
        #expect(r.specifier.description == "==2.10.5")
        #expect(r.url == nil && r.marker == nil)
        #expect(r.description == "Apache_Airflow==2.10.5")
    }

    @Test func extrasAreNormalisedSortedAndDeduplicated() throws {
        let r = try Requirement(parsing: "apache-airflow[Postgres, celery,amazon, celery,Google_Cloud] >=2.9, <3")
        #expect(r.extras == ["amazon", "celery", "google-cloud", "postgres"])
        #expect(r.specifier.description == "<3,>=2.9")
        #expect(r.description == "apache-airflow[amazon,celery,google-cloud,postgres]<3,>=2.9")
        #expect(try Requirement(parsing: "foo[]").extras.isEmpty)
    }

    @Test(arguments: [
        ("foo>=1.0", "foo>=1.0"),
        ("foo >= 1.0", "foo>=1.0"),
        ("  foo  (>=1.0 , <2)  ", "foo<2,>=1.0"),
        ("foo(>=1.0)", "foo>=1.0"),
        ("foo>=1.0,", "foo>=1.0"),
        ("foo;python_version<'3.12'", "foo; python_version < \"3.12\""),
        ("foo ; os.name == 'posix'", "foo; os_name == \"posix\""),
        ("foo==1.0 ; extra == 'Foo_Bar'", "foo==1.0; extra == \"foo-bar\""),
        ("foo @ https://example.com/foo-1.0.tar.gz", "foo @ https://example.com/foo-1.0.tar.gz"),
        ("foo@https://example.com/foo.whl ; sys_platform == 'linux'", "foo @ https://example.com/foo.whl ; sys_platform == \"linux\""),
        ("foo_bar", "foo_bar"),
        ("pandas===1.0", "pandas===1.0"),
        ("foo\t>=1\t;\tpython_version\t>\t'3'", "foo>=1; python_version > \"3\""),
    ])
    func parsingVariants(text: String, description: String) throws {
        #expect(try Requirement(parsing: text).description == description)
    }

    @Test func urlRequirement() throws {
        let r = try Requirement(parsing: "pkg[x] @ git+https://github.com/o/pkg.git@v1 ; python_version >= '3.9'")
        #expect(r.url == "git+https://github.com/o/pkg.git@v1")
        #expect(r.extras == ["x"])
        #expect(r.specifier.isEmpty)
        #expect(r.marker?.description == "python_version >= \"3.9\"")
        // Without whitespace before `;` the URL swallows the marker, as in packaging.
        #expect(try Requirement(parsing: "foo @ https://x;python_version>'3'").url == "https://x;python_version>'3'")
    }

    /// (text, fragment expected in the message, column)
    @Test(arguments: [
        ("foo==", "Expected a version after `==`", 4),
        ("foo>=1.0,<", "Expected a version after `<`", 10),
        ("foo>=", "Expected a version after `>=`", 4),
        ("foo==bar", "Expected a valid version after `==`", 4),
        ("foo=1.0", "use `==`", 4),
        ("foo>=1.0 <2", "comma between version specifiers", 10),
        ("foo>=1.0.*", "`==` or `!=`", 4),
        ("foo>=1.0+local", "Local version label", 4),
        ("foo[bar", "Expected matching `]`", 8),
        ("foo[a b]", "Expected comma between extra names", 7),
        ("foo[a,]", "Expected extra name after comma", 7),
        ("==1.0", "Expected package name", 1),
        ("", "Expected package name", 1),
        ("foo bar", "Expected semicolon (after name with no version specifier) or end", 5),
        ("foo ; python_version", "Expected marker operator", 21),
        ("foo ; python_version < '3", "Unterminated quoted string", 24),
        ("foo ; python_versio < '3'", "Unknown marker variable `python_versio`", 7),
        ("foo ; (python_version < '3'", "Expected matching `)` for `(` (opened at column 7)", 28),
        ("foo ; python_version not '3'", "Expected 'in' after 'not'", 26),
        ("foo @ ", "Expected URL after @", 7),
        ("foo @ https://x bar", "Expected semicolon (after URL and whitespace)", 17),
        ("foo(>=1.0", "Expected matching `)` for `(` (opened at column 4)", 10),
        ("foo ~= 1", "Expected a valid version after `~=`", 5),
    ])
    func errors(text: String, fragment: String, column: Int) {
        do {
            let r = try Requirement(parsing: text)
            Issue.record("expected an error for \(text.debugDescription), got \(r)")
        } catch {
            #expect(error.message.contains(fragment), "\(text.debugDescription): \(error.message)")
            #expect(error.column == column, "\(text.debugDescription): \(error.message)")
            #expect(error.message.contains("column \(column)"))
        }
    }

    @Test func equalityAndHashing() throws {
        let a = try Requirement(parsing: "Foo_Bar[X]>=1.0,<2")
        let b = try Requirement(parsing: "foo.bar [x] (<2, >=1.0.0)")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(try a != Requirement(parsing: "foo-bar>=1.0,<2"))
    }
}

@Suite struct MarkerTests {
    let py311 = MarkerEnvironment.linux(python: "3.11")

    @Test func linuxEnvironment() {
        #expect(py311["python_version"] == "3.11")
        #expect(py311["python_full_version"] == "3.11.0")
        #expect(py311["implementation_name"] == "cpython")
        #expect(py311["sys_platform"] == "linux")
        #expect(py311["platform_machine"] == "x86_64")
        #expect(py311["os_name"] == "posix")
        #expect(py311["platform_system"] == "Linux")
        #expect(py311["platform_python_implementation"] == "CPython")
        let full = MarkerEnvironment.linux(python: "3.12.4")
        #expect(full["python_version"] == "3.12" && full["python_full_version"] == "3.12.4")
    }

    /// (marker, python, extra, expected)
    @Test(arguments: [
        ("python_version < \"3.12\"", "3.11", "", true),
        ("python_version < \"3.12\"", "3.12", "", false),
        ("python_version >= '3.10'", "3.9", "", false),
        ("python_version >= '3.10'", "3.10", "", true),
        ("python_version > '3.9'", "3.10", "", true),
        ("python_version == '3.11.*'", "3.11", "", true),
        ("python_version ~= '3.8'", "3.12", "", true),
        ("python_full_version >= '3.11.4'", "3.11.4", "", true),
        ("python_full_version >= '3.11.4'", "3.11", "", false),
        ("'3.10' < python_version", "3.11", "", true),
        ("python_version in '3.10 3.11'", "3.11", "", true),
        ("python_version not in '3.10 3.11'", "3.11", "", false),
        ("sys_platform == \"win32\"", "3.11", "", false),
        ("sys_platform != \"win32\"", "3.11", "", true),
        ("\"linux\" in sys_platform", "3.11", "", true),
        ("'lin' in sys_platform", "3.11", "", true),
        ("sys_platform < 'z'", "3.11", "", false),
        ("extra == \"x\"", "3.11", "x", true),
        ("extra == \"x\"", "3.11", "", false),
        ("extra == 'Foo_Bar'", "3.11", "foo.bar", true),
        ("os_name == 'posix' and (extra == 'Foo_Bar')", "3.11", "FOO-BAR", true),
        ("python_version < '3.9' or sys_platform == 'linux' and os_name == 'posix'", "3.11", "", true),
        ("(python_version < '3.9' or sys_platform == 'linux') and os_name == 'nt'", "3.11", "", false),
        ("python_version < '3.9' or (sys_platform == 'win32' and os_name == 'nt')", "3.11", "", false),
        ("platform_machine == 'x86_64' and platform_python_implementation == 'CPython'", "3.11", "", true),
        ("python_implementation == 'CPython'", "3.11", "", true),
        ("implementation_name == 'pypy'", "3.11", "", false),
        ("platform_system == 'Darwin'", "3.11", "", false),
        ("os_name ~= 'posix'", "3.11", "", false),
    ])
    func evaluation(marker: String, python: String, extra: String, expected: Bool) throws {
        let parsed = try Marker(parsing: marker)
        let environment = MarkerEnvironment.linux(python: python).with(extra: extra)
        #expect(parsed.evaluate(environment) == expected, "\(marker) with python \(python), extra \(extra.debugDescription)")
    }

    @Test func structureAndDescription() throws {
        let marker = try Marker(parsing: "python_version<'3.12' and (sys.platform=='linux' or os_name == \"nt\")")
        guard case .and(let terms) = marker, terms.count == 2, case .group(.or) = terms[1] else {
            Issue.record("unexpected structure \(marker)")
            return
        }
        #expect(terms[0] == .compare(.variable("python_version"), .lessThan, .value("3.12")))
        #expect(marker.description == "python_version < \"3.12\" and (sys_platform == \"linux\" or os_name == \"nt\")")
        #expect(marker.variables == ["python_version", "sys_platform", "os_name"])
        #expect(try Marker(parsing: "(python_version > '3')").description == "python_version > \"3\"")
        #expect(throws: PackagingError.self, "unknown variables are rejected") { try Marker(parsing: "a_in == 'x'") }
    }

    @Test func requirementMarkerApplies() throws {
        let r = try Requirement(parsing: "tomli>=1.1 ; python_version < '3.11'")
        #expect(r.applies(in: MarkerEnvironment.linux(python: "3.10")))
        #expect(!r.applies(in: MarkerEnvironment.linux(python: "3.11")))
        #expect(try Requirement(parsing: "x").applies(in: py311))
    }
}
