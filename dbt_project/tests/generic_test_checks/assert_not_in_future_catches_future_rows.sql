-- not_in_future must flag a timestamp tomorrow and pass one yesterday
with

cases as (

    select current_timestamp - interval 1 day as seen_at
    union all
    select current_timestamp + interval 1 day

),

failures as (

    {{ test_not_in_future(model='cases', column_name='seen_at') }}

)

select 'not_in_future returned ' || count(*) || ' rows, expected 1' as problem
from failures
having count(*) != 1
