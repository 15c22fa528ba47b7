// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

mod engine;
pub mod interpreter;
mod regent_round2;
mod regent_round3;
mod regent_round4;
mod regent_round5;
mod scheduler;
