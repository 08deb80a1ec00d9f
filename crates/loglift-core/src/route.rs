//! Routing: which pipeline of the spec a record belongs to. The first pipeline, in file order,
//! whose every match criterion holds wins.

use glob::{MatchOptions, Pattern};
use serde_json::{Map, Value};

use crate::event_json::Wanted;
use crate::identity::lookup;
use crate::spec::{Pipeline, Spec};

/// Where an event came from, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A record of a Kinesis stream or a Firehose delivery stream (the stream's name).
    Stream { stream: &'a str },
    /// A CloudWatch Logs event, and the stream it came through when known.
    Logs {
        log_group: &'a str,
        stream: Option<&'a str>,
    },
    /// A file in the landing area; `key` is relative to the landing prefix.
    Landing { key: &'a str },
}

const GLOB: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// The spec's match rules, compiled once.
#[derive(Debug)]
pub struct Router<'s> {
    rules: Vec<Rule<'s>>,
    /// Deployed stream name → the spec's ([`Spec::deployed_streams`]).
    deployed_streams: &'s std::collections::BTreeMap<String, String>,
    /// The event fields routing and identity read.
    wanted: Wanted,
}

#[derive(Debug)]
struct Rule<'s> {
    pipeline: &'s Pipeline,
    log_group: Option<Pattern>,
    topic: Option<(&'s str, Pattern)>,
}

impl<'s> Router<'s> {
    /// Compile a checked spec's rules (an invalid glob, which `Spec::parse` rejects, never matches).
    pub fn new(spec: &'s Spec) -> Self {
        let rules = spec
            .pipelines
            .iter()
            .map(|pipeline| Rule {
                pipeline,
                log_group: pipeline
                    .matcher
                    .log_group
                    .as_deref()
                    .and_then(|g| Pattern::new(g).ok()),
                topic: pipeline
                    .matcher
                    .topic
                    .as_ref()
                    .and_then(|t| Pattern::new(&t.glob).ok().map(|p| (t.field.as_str(), p))),
            })
            .collect();
        Router {
            rules,
            deployed_streams: &spec.deployed_streams,
            wanted: Wanted::of(spec),
        }
    }

    /// The top-level event fields routing (topic rules) and identity read: what ingest parses of
    /// an event.
    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }

    /// The origin with a deployed stream name read as the spec's name.
    fn as_spec<'a>(&'a self, origin: Origin<'a>) -> Origin<'a> {
        let spec_name = |stream: &'a str| -> &'a str {
            self.deployed_streams
                .get(stream)
                .map_or(stream, String::as_str)
        };
        match origin {
            Origin::Stream { stream } => Origin::Stream {
                stream: spec_name(stream),
            },
            Origin::Logs { log_group, stream } => Origin::Logs {
                log_group,
                stream: stream.map(spec_name),
            },
            landing @ Origin::Landing { .. } => landing,
        }
    }

    /// The pipeline for an event, if any. `event` is the decoded event (for topic matching).
    pub fn route(
        &self,
        origin: Origin<'_>,
        event: Option<&Map<String, Value>>,
    ) -> Option<&'s Pipeline> {
        let origin = self.as_spec(origin);
        self.rules
            .iter()
            .find(|rule| rule.matches(origin, event))
            .map(|rule| rule.pipeline)
    }

    /// Whether any pipeline could take records of this origin, whatever their content.
    pub fn any_for(&self, origin: Origin<'_>) -> bool {
        let origin = self.as_spec(origin);
        self.rules.iter().any(|rule| rule.matches_origin(origin))
    }
}

impl Rule<'_> {
    fn matches_origin(&self, origin: Origin<'_>) -> bool {
        let m = &self.pipeline.matcher;
        let stream_ok =
            |stream: Option<&str>| m.stream.as_deref().is_none_or(|want| stream == Some(want));
        match origin {
            Origin::Stream { stream } => {
                m.log_group.is_none() && m.s3_prefix.is_none() && stream_ok(Some(stream))
            }
            Origin::Logs { log_group, stream } => {
                self.log_group
                    .as_ref()
                    .is_some_and(|p| p.matches_with(log_group, GLOB))
                    && stream_ok(stream)
            }
            Origin::Landing { key } => m
                .s3_prefix
                .as_deref()
                .is_some_and(|prefix| key.starts_with(prefix)),
        }
    }

    fn matches(&self, origin: Origin<'_>, event: Option<&Map<String, Value>>) -> bool {
        if !self.matches_origin(origin) {
            return false;
        }
        match (&self.topic, origin) {
            (None, _) | (_, Origin::Landing { .. }) => true,
            (Some((field, pattern)), _) => event
                .and_then(|e| lookup(e, field))
                .and_then(Value::as_str)
                .is_some_and(|value| pattern.matches_with(value, GLOB)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &str = include_str!("../../../spec/pipelines.yaml");

    fn name(p: Option<&Pipeline>) -> Option<&str> {
        p.map(|p| p.name.as_str())
    }

    #[test]
    fn deployed_stream_names_route_as_the_specs() {
        let names = std::collections::BTreeMap::from([
            ("user-events".to_owned(), "prod-user-events".to_owned()),
            ("logs".to_owned(), "prod-logs".to_owned()),
        ]);
        let spec = Spec::parse(SPEC)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .with_deployed_streams(&names);
        let router = Router::new(&spec);
        let deployed = Origin::Stream {
            stream: "prod-user-events",
        };
        assert_eq!(name(router.route(deployed, None)), Some("user_events"));
        assert!(router.any_for(deployed));
        // The spec's own name still routes (an undeployed run, a replay of an old reject).
        let plain = Origin::Stream {
            stream: "user-events",
        };
        assert_eq!(name(router.route(plain, None)), Some("user_events"));
        // Another deployment's stream does not.
        let other = Origin::Stream {
            stream: "staging-user-events",
        };
        assert_eq!(name(router.route(other, None)), None);
        let logs = Origin::Logs {
            log_group: "prod_/srv/idp/shared/log/events.log",
            stream: Some("prod-logs"),
        };
        assert_eq!(name(router.route(logs, None)), Some("app_logs"));
    }

    #[test]
    fn shipped_spec_routes_every_seed() {
        let spec = Spec::parse(SPEC).unwrap_or_else(|e| panic!("{e:?}"));
        let router = Router::new(&spec);
        let cases: &[(Origin<'_>, Option<&str>)] = &[
            (
                Origin::Stream {
                    stream: "user-events",
                },
                Some("user_events"),
            ),
            (Origin::Stream { stream: "user-utm" }, Some("user_utm")),
            (Origin::Stream { stream: "nobody" }, None),
            (
                Origin::Logs {
                    log_group: "/srv/idp/shared/log/events.log",
                    stream: None,
                },
                Some("app_logs"),
            ),
            (
                Origin::Logs {
                    log_group: "prod_/srv/idp/shared/log/events.log",
                    stream: Some("logs"),
                },
                Some("app_logs"),
            ),
            (
                Origin::Logs {
                    log_group: "prod_/srv/idp/shared/log/production.log",
                    stream: None,
                },
                None,
            ),
            (
                Origin::Landing {
                    key: "hit_data/2026/data.tsv",
                },
                Some("hit_data"),
            ),
            (
                Origin::Landing {
                    key: "partner_catalog/a.jsonl",
                },
                Some("partner_catalog"),
            ),
            (
                Origin::Landing {
                    key: "elsewhere/a.jsonl",
                },
                None,
            ),
        ];
        for (origin, want) in cases {
            assert_eq!(name(router.route(*origin, None)), *want, "{origin:?}");
        }
    }

    #[test]
    fn topic_routes_within_a_stream() {
        let text = "version: 1\npipelines:\n  - name: cms\n    match: { stream: app, topic: { field: topic, glob: 'dolphin_cms.*' } }\n    format: json\n    table: t.cms\n    identity: { field: id }\n    columns: [{ name: id, type: string }]\n  - name: rest\n    match: { stream: app }\n    format: json\n    table: t.rest\n    identity: { field: id }\n    columns: [{ name: id, type: string }]\n";
        let spec = Spec::parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        let router = Router::new(&spec);
        let origin = Origin::Stream { stream: "app" };
        let cms = json!({"topic": "dolphin_cms.wizard.step"});
        let other = json!({"topic": "shop.cart"});
        assert_eq!(name(router.route(origin, cms.as_object())), Some("cms"));
        assert_eq!(name(router.route(origin, other.as_object())), Some("rest"));
        assert_eq!(name(router.route(origin, None)), Some("rest"));
        assert!(router.any_for(origin));
        assert!(!router.any_for(Origin::Stream { stream: "else" }));
    }
}
