{{ customer_features(as_of_dates=ref('int_snapshot_dates_spined'), population='active_before_as_of') }}
