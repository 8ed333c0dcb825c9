import AirlockCore
import Testing

@Suite struct DotEnvTests {
    @Test(arguments: [
        ("KEY=value", ["KEY": "value"]),
        ("KEY = value  ", ["KEY": "value"]),
        ("export KEY=value", ["KEY": "value"]),
        ("export\tKEY=value", ["KEY": "value"]),
        ("EXPORTED=1", ["EXPORTED": "1"]),
        ("KEY='single # not a comment'", ["KEY": "single # not a comment"]),
        ("KEY=\"double # not a comment\"", ["KEY": "double # not a comment"]),
        ("KEY='a\\nb'", ["KEY": "a\\nb"]),
        ("KEY=\"a\\nb\\t\\\"c\\\"\"", ["KEY": "a\nb\t\"c\""]),
        ("KEY=\"line one\nline two\"\nNEXT=1", ["KEY": "line one\nline two", "NEXT": "1"]),
        ("KEY=value # comment", ["KEY": "value"]),
        ("KEY=value#not-a-comment", ["KEY": "value#not-a-comment"]),
        ("KEY='quoted' # comment", ["KEY": "quoted"]),
        ("# KEY=commented\n\n   \nOTHER=2", ["OTHER": "2"]),
        ("  # indented comment\nA=1", ["A": "1"]),
        ("KEY=", ["KEY": ""]),
        ("KEY=''", ["KEY": ""]),
        ("KEY=$HOME/x", ["KEY": "$HOME/x"]),
        ("KEY=\"${HOME}\"", ["KEY": "${HOME}"]),
        ("KEY=a=b", ["KEY": "a=b"]),
        ("AIRFLOW_CONN_X=postgres://u:p@h:5432/db", ["AIRFLOW_CONN_X": "postgres://u:p@h:5432/db"]),
        ("KEY=1\nKEY=2", ["KEY": "2"]),
        ("A=1\r\nB=2\r\n", ["A": "1", "B": "2"]),
        ("KEY='unterminated", ["KEY": "'unterminated"]),
        ("not an assignment\nA=1", ["A": "1"]),
        ("BAD KEY=1\n=2\nA=1", ["A": "1"]),
        ("", [:]),
    ])
    func parses(text: String, expected: [String: String]) {
        #expect(DotEnv.parse(text) == expected)
    }
}

@Suite struct DagIntegrityExceptionsTests {
    @Test(arguments: [
        ("dags/x.py", ["dags/x.py"]),
        ("./dags/x.py\n.//dags/y.py", ["dags/x.py", "dags/y.py"]),
        ("# Add dag files to exempt from parse test below. ex: dags/<test-file>\n", []),
        ("\n  dags/a.py  \n\n# dags/b.py\ndags/c.py # flaky\r\n", ["dags/a.py", "dags/c.py"]),
        ("dags/odd#name.py", ["dags/odd#name.py"]),
        ("", []),
    ] as [(String, Set<String>)])
    func parses(text: String, expected: Set<String>) {
        #expect(DagIntegrityExceptions.parse(text) == expected)
    }
}
