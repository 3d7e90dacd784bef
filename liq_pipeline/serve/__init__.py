"""The live map over HTTP (`liq serve`): a FastAPI app over the warehouse of one data root."""
