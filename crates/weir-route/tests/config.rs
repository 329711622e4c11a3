//! weir.toml: resources built from AWS property names, references, Weir tables, errors.

mod common;

use std::path::Path;

use common::*;
use weir_route::config::Config;
use weir_route::InvocationType;

fn parse(text: &str) -> Config {
    Config::parse(text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn build_error(text: &str) -> String {
    let router = router();
    parse(text).build(&router, true).unwrap_err().to_string()
}

const FUNCTION: &str = r#"
[Resources.F]
Type = "AWS::Lambda::Function"
Properties = { FunctionName = "f", Timeout = "4", ReservedConcurrentExecutions = 2 }
Weir = { Command = ["sh", "-c", "cat"] }
"#;

#[tokio::test]
async fn functions_take_template_properties_and_numbers_as_strings() {
    let router = router();
    let d = parse(FUNCTION).build(&router, true).unwrap();
    assert_eq!(d.functions, [("F".to_string(), "f".to_string())]);
    let out = router
        .invoke("f", InvocationType::RequestResponse, br#"{"a":1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(out.payload, br#"{"a":1}"#);
}

#[tokio::test]
async fn a_whole_pipeline_runs_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.jsonl"),
        "{\"kind\": \"a\", \"n\": 1}\n{\"kind\": \"b\", \"n\": 2}\n\n{\"kind\": \"a\", \"n\": 3}\n",
    )
    .unwrap();
    let text = r#"
[Resources.Events]
Type = "AWS::Kinesis::Stream"
Properties = { Name = "events", ShardCount = 2 }
Weir = { Records = "events.jsonl", PartitionKey = "kind" }

[Resources.Seen]
Type = "AWS::SQS::Queue"
Properties = { QueueName = "seen" }
Weir = { Output = "seen.jsonl" }

[Resources.Echo]
Type = "AWS::Serverless::Function"
Properties = { Handler = "unused", CodeUri = ".", Role = "arn:aws:iam::000000000000:role/r" }
Weir = { Command = ["sh", "-c", "cat > last.json"] }

[Resources.Map]
Type = "AWS::Lambda::EventSourceMapping"
[Resources.Map.Properties]
FunctionName = { Ref = "Echo" }
EventSourceArn = { "Fn::GetAtt" = ["Events", "Arn"] }
StartingPosition = "TRIM_HORIZON"
FilterCriteria = { Filters = [{ Pattern = { data = { kind = ["a"] } } }] }

[Resources.Everything]
Type = "AWS::Events::Rule"
[Resources.Everything.Properties]
EventPattern = { source = ["shop"] }
Targets = [{ Id = "seen", Arn = { "Fn::GetAtt" = ["Seen", "Arn"] } }]
"#;
    let config = Config::parse(text, dir.path()).unwrap();
    let router = router();
    let d = config.build(&router, true).unwrap();
    assert_eq!(
        d.warnings,
        ["Resources.Echo.Properties: Role is ignored by weir"]
    );
    d.feed(&router).await.unwrap();
    router.wait_idle().await;
    let metrics = serde_json::to_value(d.metrics(&router)).unwrap();
    let m = &metrics["EventSourceMappings"]["Map"];
    assert_eq!(m["PolledEventCount"], 3);
    assert_eq!(m["FilteredOutEventCount"], 1);
    assert_eq!(m["InvokedEventCount"], 2);
    let invocations = metrics["Functions"]["Echo"]["Invocations"]
        .as_u64()
        .unwrap();
    assert!((1..=2).contains(&invocations), "{metrics}");
    let last = json(&std::fs::read(dir.path().join("last.json")).unwrap());
    assert_eq!(last["Records"][0]["eventSource"], "aws:kinesis");
    router
        .put_event("default", br#"{"source": "shop", "n": 1}"#)
        .unwrap();
    router
        .put_event("default", br#"{"source": "other"}"#)
        .unwrap();
    let metrics = serde_json::to_value(d.metrics(&router)).unwrap();
    let rule = &metrics["Rules"]["Everything"];
    assert_eq!(
        (
            &rule["MatchedEvents"],
            &rule["Invocations"],
            &rule["FailedInvocations"]
        ),
        (&1.into(), &1.into(), &0.into()),
        "{metrics}"
    );
    d.write_outputs(&router, &mut Vec::new()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("seen.jsonl")).unwrap(),
        "{\"source\": \"shop\", \"n\": 1}\n"
    );
}

#[tokio::test]
async fn inline_messages_and_event_invoke_configs_are_read() {
    let text = format!(
        r#"{FUNCTION}
[Resources.Failed]
Type = "AWS::SQS::Queue"

[Resources.Q]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "q", RedrivePolicy = {{ deadLetterTargetArn = "arn:aws:sqs:us-east-1:000000000000:Failed", maxReceiveCount = 2 }} }}
Weir = {{ Messages = ["plain", {{ a = 1 }}] }}

[Resources.Cfg]
Type = "AWS::Lambda::EventInvokeConfig"
Properties = {{ FunctionName = "f", Qualifier = "$LATEST", MaximumRetryAttempts = 0, DestinationConfig = {{ OnSuccess = {{ Destination = {{ Ref = "Failed" }} }} }} }}
"#
    );
    let router = router();
    let d = parse(&text).build(&router, false).unwrap();
    d.feed(&router).await.unwrap();
    let q = router.queue("q").unwrap();
    assert_eq!(q.drain(), ["plain", r#"{"a":1}"#]);
    router
        .invoke("f", InvocationType::Event, br#"{"x": 1}"#.to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    let record = json(router.queue("Failed").unwrap().drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["responsePayload"], serde_json::json!({"x": 1}));
}

#[tokio::test]
async fn errors_name_the_place_in_the_file() {
    let cases: [(&str, &str); 10] = [
        (
            "[Resources.F]\nType = \"AWS::Lambda::Function\"\nWeir = { Command = [\"true\"] }\nProperties = { Timeout = -5 }",
            "Resources.F: ValidationException: 1 validation error detected: Value '-5' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        ("Resources = 1", "Resources: must be a table of resources"),
        ("[Other]", "Other: unknown top-level key (expected Resources)"),
        (
            "[Resources.X]\nProperties = {}",
            "Resources.X.Type: missing",
        ),
        (
            "[Resources.X]\nType = \"AWS::SQS::Queue\"\nProperties = { QueueNam = \"x\" }",
            "Resources.X.Properties.QueueNam: unknown property (known here: MessageRetentionPeriod, QueueName, RedrivePolicy, VisibilityTimeout)",
        ),
        (
            "[Resources.X]\nType = \"AWS::SQS::Queue\"\nProperties = { VisibilityTimeout = \"soon\" }",
            "Resources.X.Properties.VisibilityTimeout: must be an integer",
        ),
        (
            "[Resources.X]\nType = \"AWS::SQS::Queue\"\nProperties = { VisibilityTimeout = 43201 }",
            "Resources.X: ValidationException: 1 validation error detected: Value '43201' at 'visibilityTimeout' failed to satisfy constraint: Member must have value less than or equal to 43200",
        ),
        (
            "[Resources.F]\nType = \"AWS::Lambda::Function\"",
            "Resources.F.Weir: the function needs a handler: Weir.Command (a command per invocation), Weir.RuntimeApi (a Runtime API process), or Runtime python* / provided* with Handler (and CodeUri, the code's directory)",
        ),
        (
            "[Resources.M]\nType = \"AWS::Lambda::EventSourceMapping\"\nProperties = { FunctionName = { Ref = \"Nope\" } }",
            "Resources.M.Properties.FunctionName: no resource Nope",
        ),
        (
            "[Resources.F]\nType = \"AWS::Lambda::Function\"\nWeir = { Command = [\"true\"] }\nProperties = { DeadLetterConfig = { TargetArn = \"arn:aws:sqs:us-east-1:000000000000:gone\" } }",
            "Resources.F.Properties.DeadLetterConfig.TargetArn: the queue gone does not exist",
        ),
    ];
    for (text, expected) in cases {
        let err = match Config::parse(text, Path::new(".")) {
            Err(e) => e.to_string(),
            Ok(config) => config
                .build(&common::router(), true)
                .unwrap_err()
                .to_string(),
        };
        assert_eq!(err, expected, "{text}");
    }
}

#[tokio::test]
async fn numbers_are_checked_as_written_with_aws_ranges() {
    let queue = |props: &str| {
        format!("[Resources.X]\nType = \"AWS::SQS::Queue\"\nProperties = {{ {props} }}")
    };
    let stream = |props: &str| {
        format!("[Resources.S]\nType = \"AWS::Kinesis::Stream\"\nProperties = {{ {props} }}")
    };
    let function = |props: &str| {
        format!("[Resources.F]\nType = \"AWS::Lambda::Function\"\nWeir = {{ Command = [\"true\"] }}\nProperties = {{ {props} }}")
    };
    let v = |at: &str, value: &str, bound: &str| {
        format!("ValidationException: 1 validation error detected: Value '{value}' at '{at}' failed to satisfy constraint: Member must have value {bound}")
    };
    let cases = [
        (
            queue("VisibilityTimeout = -1"),
            format!("Resources.X: {}", v("visibilityTimeout", "-1", "greater than or equal to 0")),
        ),
        (
            queue("MessageRetentionPeriod = -5"),
            format!("Resources.X: {}", v("messageRetentionPeriod", "-5", "greater than or equal to 60")),
        ),
        (
            stream("RetentionPeriodHours = 9223372036854775807"),
            format!("Resources.S: {}", v("retentionPeriodHours", "9223372036854775807", "less than or equal to 8760")),
        ),
        (
            stream("RetentionPeriodHours = -3"),
            format!("Resources.S: {}", v("retentionPeriodHours", "-3", "greater than or equal to 24")),
        ),
        (
            stream("ShardCount = 4294967297"),
            format!("Resources.S: {}", v("shardCount", "4294967297", "less than or equal to 1000")),
        ),
        (
            function("ReservedConcurrentExecutions = -1"),
            format!("Resources.F: {}", v("reservedConcurrentExecutions", "-1", "greater than or equal to 0")),
        ),
        (
            // Would wrap to 1 as a u32.
            function("ReservedConcurrentExecutions = 4294967297"),
            "Resources.F: InvalidParameterValueException: Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].".to_string(),
        ),
        (
            function("MemorySize = 64"),
            format!("Resources.F: {}", v("memorySize", "64", "greater than or equal to 128")),
        ),
        (
            function("MemorySize = 10241"),
            format!("Resources.F: {}", v("memorySize", "10241", "less than or equal to 10240")),
        ),
        (
            function("EventInvokeConfig = { MaximumEventAgeInSeconds = -10 }"),
            "Resources.F.Properties.EventInvokeConfig.MaximumEventAgeInSeconds: 1 validation error detected: Value '-10' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60".to_string(),
        ),
    ];
    for (text, expected) in cases {
        let err = parse(&text)
            .build(&common::router(), true)
            .unwrap_err()
            .to_string();
        assert_eq!(err, expected, "{text}");
    }
    // At the limits, all is well.
    let ok = format!(
        "{}\n{}\n{}",
        queue("VisibilityTimeout = 43200, MessageRetentionPeriod = 60"),
        stream("RetentionPeriodHours = 8760, ShardCount = 1"),
        function("ReservedConcurrentExecutions = 900, MemorySize = 10240")
    );
    parse(&ok).build(&common::router(), true).unwrap();
}

#[tokio::test]
async fn mapping_errors_keep_aws_messages() {
    let text = format!(
        r#"{FUNCTION}
[Resources.Q]
Type = "AWS::SQS::Queue"
[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "F" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Q", "Arn"] }}, BatchSize = 50 }}
"#
    );
    assert_eq!(
        build_error(&text),
        "Resources.M: InvalidParameterValueException: Maximum batch window in seconds must be \
         greater than 0 if maximum batch size is greater than 10"
    );
}

#[tokio::test]
async fn sam_function_events_become_mappings_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[Resources.Orders]
Type = "AWS::SQS::Queue"
Weir = { Messages = ['{"total": 5}', '{"total": 500}', '{"total": 700}'] }

[Resources.Log]
Type = "AWS::Serverless::Function"
Weir = { Command = ["sh", "-c", "cat > call-$AWS_LAMBDA_REQUEST_ID.json"] }

[Resources.Log.Properties.Events.Big]
Type = "SQS"
[Resources.Log.Properties.Events.Big.Properties]
Queue = { "Fn::GetAtt" = ["Orders", "Arn"] }
BatchSize = 5
FilterCriteria = { Filters = [{ Pattern = '{"body": {"total": [{"numeric": [">", 100]}]}}' }] }

[Resources.Log.Properties.Events.Shop]
Type = "EventBridgeRule"
Properties = { Pattern = { source = ["shop"] } }
"#;
    let config = Config::parse(text, dir.path()).unwrap();
    let router = router();
    let d = config.build(&router, true).unwrap();
    assert_eq!(
        d.mappings
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["LogBig"]
    );
    d.feed(&router).await.unwrap();
    router
        .put_event("default", br#"{"source": "shop", "detail": {}}"#)
        .unwrap();
    router.wait_idle().await;
    let metrics = serde_json::to_value(d.metrics(&router)).unwrap();
    let m = &metrics["EventSourceMappings"]["LogBig"];
    assert_eq!(
        (
            m["PolledEventCount"].as_u64(),
            m["InvokedEventCount"].as_u64()
        ),
        (Some(3), Some(2))
    );
    // One file per invocation (the two may run at once).
    let events: Vec<serde_json::Value> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("call-")
        })
        .map(|p| json(&std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().any(|e| e["source"] == "shop"));
    assert!(events
        .iter()
        .any(|e| e["Records"].as_array().is_some_and(|r| r.len() == 2)));

    let bad = "[Resources.F]\nType = \"AWS::Serverless::Function\"\nWeir = { Command = [\"true\"] }\n[Resources.F.Properties.Events.E]\nType = \"S3\"\n";
    let err = Config::parse(bad, Path::new("."))
        .unwrap()
        .build(&common::router(), true)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Resources.F.Properties.Events.E.Type: weir does not run S3 events (it runs SQS, Kinesis, EventBridgeRule and CloudWatchEvent)"
    );
    let bad = "[Resources.F]\nType = \"AWS::Serverless::Function\"\nWeir = { Command = [\"true\"] }\n[Resources.F.Properties.Events.E]\nType = \"SQS\"\nProperties = { BatchSize = 0, Queue = \"arn:aws:sqs:us-east-1:000000000000:nope\" }\n";
    let err = Config::parse(bad, Path::new("."))
        .unwrap()
        .build(&common::router(), true)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Resources.F.Properties.Events.E: ValidationException"),
        "{err}"
    );
}
