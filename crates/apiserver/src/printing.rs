//! Server-side printing: objects as a `meta.k8s.io/v1` Table (what `kubectl get` asks for), with
//! upstream's columns for built-in kinds and a CRD's additionalPrinterColumns for custom ones.

use std::time::SystemTime;

use barge_api::{Resource, table};
use serde_json::{Value, json};

/// How much of each object a row carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// A PartialObjectMetadata (the default: kubectl reads names, namespaces and labels from it).
    Metadata,
    Object,
    None,
}

impl Include {
    pub fn from_query(v: Option<&str>) -> Self {
        match v {
            Some("Object") => Include::Object,
            Some("None") => Include::None,
            _ => Include::Metadata,
        }
    }
}

/// A resource's printer: its columns (JSON) and a way to make a row's cells.
#[derive(Clone, Debug)]
pub struct Printer {
    group: String,
    kind: String,
    /// additionalPrinterColumns of a custom resource's version, if it has any.
    custom: Option<Value>,
}

impl Printer {
    pub fn new(resource: &Resource, printer_columns: Option<Value>) -> Self {
        Self {
            group: resource.group.clone(),
            kind: resource.kind.clone(),
            custom: printer_columns.filter(|c| c.as_array().is_some_and(|a| !a.is_empty())),
        }
    }

    fn columns(&self) -> Value {
        match &self.custom {
            Some(pc) => json!(table::custom_columns(pc)),
            None => json!(table::columns(&self.group, &self.kind)),
        }
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        match &self.custom {
            Some(pc) => table::custom_cells(pc, obj, now),
            None => table::cells(&self.group, &self.kind, obj, now),
        }
    }

    fn row(&self, obj: &Value, include: Include, now: SystemTime) -> Value {
        let mut row = json!({"cells": self.cells(obj, now)});
        match include {
            Include::Object => row["object"] = obj.clone(),
            Include::Metadata => {
                row["object"] = json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                });
            }
            Include::None => {}
        }
        row
    }

    /// A Table of `objects`; `with_columns` is false for the watch events after the first.
    pub fn table(
        &self,
        objects: &[Value],
        metadata: Value,
        include: Include,
        with_columns: bool,
    ) -> Value {
        let now = SystemTime::now();
        let rows: Vec<Value> = objects.iter().map(|o| self.row(o, include, now)).collect();
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "columnDefinitions": if with_columns { self.columns() } else { Value::Null },
            "rows": rows,
        })
    }
}
